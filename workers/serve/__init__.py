"""Serving a checkpoint on the Ray cluster (Ray Serve), as the backend's deployments ask (``backend/deployments``).

- ``classifier``: the model side without Ray: a checkpoint (PyTorch eager) or its ONNX export (ONNX Runtime)
  behind the spec's test pipeline; image bytes in, ``trainyard infer``'s answer plus the top-k out.
- ``app``: the Ray Serve deployment around it, with dynamic batching (``@serve.batch``).
- ``launch``: the Ray job's entrypoint that starts (``deploy``) or removes (``delete``) an application.
"""
