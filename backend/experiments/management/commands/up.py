"""`python manage.py up`: the whole stack on one machine, on the embedded defaults.

Migrates, seeds the demo (team, user, token, digits dataset), starts a Ray head (unless
RAY_ADDRESS names one), a Celery worker with beat and the web server (uvicorn), prints the URL
and the login, and stops everything it started on Ctrl-C.
"""
import os
import signal
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from backend.stack import Stack


class Command(BaseCommand):
    help = "Start web + Celery (worker and beat) + a local Ray head, with a demo team and dataset."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("TRAINYARD_PORT", "8000")))
        parser.add_argument("--ray-dashboard-port", type=int, default=8265)
        parser.add_argument("--no-demo", action="store_true", help="skip creating the demo team and dataset")

    def handle(self, *args, host, port, ray_dashboard_port, no_demo, **options):
        var = settings.VAR_DIR
        var.mkdir(parents=True, exist_ok=True)
        self.stdout.write("Migrating the database ...")
        call_command("migrate", interactive=False, verbosity=0)
        token_file = var / "demo-api-token"
        if not no_demo:
            call_command("seed_demo", token_file=str(token_file))

        stack = Stack(var_dir=var)
        stack.env.setdefault("TRAINYARD_PUBLIC_URL", f"http://{host if host != '0.0.0.0' else '127.0.0.1'}:{port}")
        stopping = False

        def _stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, _stop)
        try:
            if os.environ.get("RAY_ADDRESS"):
                ray_url = os.environ["RAY_ADDRESS"]
                self.stdout.write(f"Using the Ray cluster at {ray_url}")
            else:
                self.stdout.write("Starting a local Ray head (about 10 s) ...")
                ray_url = stack.start_ray(dashboard_port=ray_dashboard_port)
            self.stdout.write("Starting Celery (worker + beat) and the web server ...")
            stack.start_celery()
            url = stack.start_web(host=host, port=port)
            token = token_file.read_text().strip() if token_file.exists() else "(none)"
            self.stdout.write(self.style.SUCCESS(
                "\n".join([
                    "",
                    f"  Trainyard is up:   {url}/",
                    "  Log in as:         demo / trainyard-demo",
                    f"  API token:         {token}",
                    f"  API docs:          {url}/api/docs/",
                    f"  Ray dashboard:     {ray_url}",
                    f"  Logs:              {var / 'logs'}/",
                    "  Ctrl-C stops everything.",
                    "",
                ])
            ))
            while not stopping:
                dead = stack.dead()
                if dead:
                    self.stderr.write(f"{', '.join(dead)} stopped unexpectedly; see {var / 'logs'}/. Shutting down.")
                    break
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            # A second Ctrl-C must not cut the clean-up short and leave processes behind.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            self.stdout.write("Stopping ...")
            stack.stop()
            self.stdout.write("Stopped every process this command started.")
