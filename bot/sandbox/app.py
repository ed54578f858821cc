"""One process: the Slack stand-in, the real app served as `crowdtune serve` builds it, the page.

The app is the one HTTP mode serves (`bot.serve.http_app`: the same listeners, signature
check and request gate), with a bot token and signing secret made up at start, and its
slack_sdk client pointed at the stand-in by SLACK_API_URL. Only the page listens on the
chosen host; the app and the stand-in listen on free ports of 127.0.0.1.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from bot.config import Settings
from bot.runtime import Runtime
from bot.sandbox.jobs import JobRunner
from bot.sandbox.page import Page
from bot.sandbox.payloads import AppEndpoint
from bot.sandbox.people import CHANNELS, DIGEST_CHANNEL, EXPORT_CHANNEL, Person, employees
from bot.sandbox.play import Player
from bot.sandbox.servers import LOCAL, LocalServer
from bot.serve import check_token, http_app
from bot.slack.standin.web_api import BOT_USER_ID, SlackDouble
from bot.slack.standin.workspace import Workspace
from bot.slack.wsgi import EVENTS_PATH


def sandbox_settings(base: Settings, *, api_url: str, bot_token: str, secret: str) -> Settings:
    """The app's settings in the sandbox: its own tokens, channels, export folder, admin."""
    db_file = base.database_url.removeprefix("sqlite:///")
    update: dict[str, object] = {
        "slack_bot_token": SecretStr(bot_token),
        "slack_signing_secret": SecretStr(secret),
        "slack_app_token": None,
        "slack_api_url": api_url,
        "digest_channel": DIGEST_CHANNEL,
        "export_channel": EXPORT_CHANNEL,
        # The first employee is an admin, so `/crowdtune export` and `targets` can be tried.
        "admin_user_ids": employees(1)[0].id,
        # Exports of demo data stay beside the sandbox's database, never in the real folder.
        "export_root": str(Path(db_file).with_suffix("").as_posix() + "-exports")
        if base.database_url.startswith("sqlite:///")
        else "crowdtune-sandbox-exports",
    }
    if base.pseudonym_salt is None:
        update["pseudonym_salt"] = SecretStr(secrets.token_hex(16))
    return base.model_copy(update=update)


@dataclass
class Sandbox:
    """The running sandbox; start() then url, stop() when done."""

    base: Settings
    people: tuple[Person, ...]
    host: str = LOCAL
    port: int = 3000
    workspace: Workspace = field(init=False)
    double: SlackDouble = field(init=False)
    rt: Runtime = field(init=False)
    app_rt: Runtime = field(init=False)
    jobs: JobRunner = field(init=False)
    player: Player = field(init=False)
    _servers: list[LocalServer] = field(init=False, default_factory=list)

    def start(self) -> Sandbox:
        """Start the stand-in, the app and the page."""
        bot_token = "xoxb-sandbox-" + secrets.token_hex(12)
        secret = secrets.token_hex(16)
        self.workspace = Workspace(bot_user=BOT_USER_ID, channels=CHANNELS)
        self.double = SlackDouble(tokens=(bot_token,), workspace=self.workspace).start()
        for p in self.people:
            self.double.add_user(p.id, p.name, tz=p.tz, tz_offset=p.utc_offset())
        settings = sandbox_settings(
            self.base, api_url=self.double.api_url, bot_token=bot_token, secret=secret
        )
        check_token(settings)  # what `serve` does first: the token works at SLACK_API_URL
        # The app answers people (serve's runtime); the jobs run beside it, as the worker's.
        self.app_rt = Runtime(settings, interactive=True)
        self.app_rt.warm_up()
        self.rt = Runtime(settings)
        _app, wsgi = http_app(self.app_rt)
        app_server = LocalServer(wsgi, LOCAL, 0)
        self._servers.append(app_server)
        endpoint = AppEndpoint(f"http://{LOCAL}:{app_server.port}{EVENTS_PATH}", secret)
        people = {p.id: p for p in self.people}
        self.player = Player(self.workspace, self.double, endpoint, people)
        self.jobs = JobRunner(self.rt)
        page = Page(self.workspace, self.player, people, self.jobs)
        self._servers.append(LocalServer(page, self.host, self.port))
        return self

    @property
    def url(self) -> str:
        """The page's address."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._servers[-1].port}/"

    def stop(self) -> None:
        """Stop the page, the app and the stand-in; release the database."""
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()
        self.double.stop()
        self.app_rt.close()
        self.rt.close()
