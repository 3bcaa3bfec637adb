"""The embedded Celery broker: kombu's filesystem transport, with messages written atomically.

Kombu's own ``filesystem://`` transport creates a message file and then writes it, so a worker
polling the folder can move and read the file while it is still empty and crash on the JSON
(seen here with beat and the web process sending at once). This transport writes each message
under a temporary name the consumer ignores and renames it into place when complete.
"""
import os
import uuid
from time import monotonic

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class AtomicChannel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `message` onto `queue`: write to a temporary file, then rename it into the queue."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"  # kombu's naming: FIFO
        final = os.path.join(self.data_folder_out, name)
        tmp = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(tmp, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(tmp, final)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc


class AtomicFilesystemTransport(filesystem.Transport):
    Channel = AtomicChannel
