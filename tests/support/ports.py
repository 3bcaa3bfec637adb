"""Free TCP ports on 127.0.0.1 for what a test (or a bench) serves: the one helper for it in tests/ and bench/.

The kernel picks a port nobody listens on; it stays free until someone binds it, so take it right before
starting the server. Two xdist workers each get their own, as two processes asking the kernel always do."""
import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that no process listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
