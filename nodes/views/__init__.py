"""Portal pages for nodes, one module per resource (see `nodes.urls`):

- `byo`: the node list, where nodes are brought in (a registration token, or an install over
  SSH, and that install's page);
- `node`: one node, its verbs and its containers;
- `cluster`: node clusters, the list with a create form and one cluster with its verbs.
"""
