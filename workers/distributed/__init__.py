"""What runs on Ray: the job entrypoint (``launch``) and the reporter that ships results home.

This is the only package of ``workers`` that imports Ray; the engine runs the same without it.
"""
