"""Portal pages for accounts: thin views over the services (writes) and selectors (reads).

`lockout` stays importable here: settings name it as `accounts.views.lockout`.
"""

from .auth import lockout, signup

__all__ = ["lockout", "signup"]
