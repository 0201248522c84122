"""The list read into records, refused with the bad entry named; the plan of a service; the supervisor's
restarts, kills and stop on SIGTERM; the command line the Makefile and the shell scripts read."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fleet import ROOT, Service, ServicesError, load, parse
from fleet.__main__ import main
from fleet.plan import Process, gateway, plan, upstreams
from fleet.supervisor import Backoff, CrashLoop, Exited, Supervisor

GOOD = """
[[service]]
name = "auth"
prefix = "/api/auth/"
paths = ["/.well-known/openid-configuration"]
port = 8001
database = "auth_service"

[[service]]
name = "polls"
prefix = "/api/polls/"
port = 8002
database = "polls_db"
"""


def test_the_list_becomes_frozen_records_with_the_names_derived_from_them(tmp_path: Path) -> None:
    auth, polls = parse(GOOD, root=tmp_path)
    assert auth == Service("auth", "/api/auth/", 8001, "auth_service", ("/.well-known/openid-configuration",))
    assert (polls.service_name, polls.url_env, polls.database) == ("polls-service", "POLLS_SERVICE_URL", "polls_db")
    assert polls.folder == tmp_path / "services" / "polls-service"
    assert polls.chart == tmp_path / "deploy" / "helm" / "polls-service"
    assert polls.port_beside(18000) == 18002
    with pytest.raises(AttributeError):
        polls.port = 1  # type: ignore[misc]


def test_the_repository_list_is_read_once_and_each_service_has_its_folder() -> None:
    assert load() is load()
    assert all(service.folder.is_dir() and service.chart.is_dir() for service in load())


@pytest.mark.parametrize(("old", "new", "complaint"), [
    ('name = "polls"', 'name = "Polls"', r"service #2: name 'Polls' must be"),
    ('prefix = "/api/polls/"', 'prefix = "/api/polls"', r"service 'polls': prefix '/api/polls' must start and end"),
    ("port = 8002", 'port = "8002"', r"service 'polls': port '8002' must be a number"),
    ("port = 8002", "port = 8001", r"service 'polls': port 8001 is 'auth''s already"),
    ('database = "polls_db"', 'database = "polls-db"', r"service 'polls': database 'polls-db' must be"),
    ('database = "polls_db"', 'database = "auth_service"', r"service 'polls': database 'auth_service' is 'auth''s"),
    ('database = "polls_db"', 'databse = "polls_db"', r"service 'polls': unknown key 'databse'"),
    ('prefix = "/api/polls/"\n', "", r"service 'polls': 'prefix' is missing"),
    ('paths = ["/.well-known/openid-configuration"]', 'paths = ["x"]', r"service 'auth': paths \['x'\] must be"),
    ("[[service]]", "[service", r"services.toml: "),
    ('database = "polls_db"', 'database = "polls_db"\npython = "3"', r"service 'polls': python '3' must be"),
])
def test_a_bad_entry_is_refused_by_name(old: str, new: str, complaint: str) -> None:
    with pytest.raises(ServicesError, match=complaint):
        parse(GOOD.replace(old, new, 1) if old in GOOD else GOOD)


def test_an_empty_list_is_refused() -> None:
    with pytest.raises(ServicesError, match="no \\[\\[service\\]\\] entries"):
        parse("")


def test_a_service_on_a_python_of_its_own_runs_from_its_own_virtualenv(tmp_path: Path) -> None:
    auth, polls = parse(GOOD.replace('database = "polls_db"', 'database = "polls_db"\npython = "3.13"'), root=tmp_path)
    assert (auth.python, auth.own_python, polls.python, polls.own_python) == ("3.11", False, "3.13", True)
    python = str(tmp_path / ".venvs" / "dev" / "polls-service" / "bin" / "python")
    assert plan(polls, port=1, env={}).web.command[0] == python
    assert plan(auth, port=1, env={}).web.command[0] == sys.executable


def test_a_service_gets_the_newest_released_wheel_its_range_allows(tmp_path: Path) -> None:
    wheels = pytest.importorskip("fleet.wheels")
    for name in ["django_reliable_events-0.1.0", "django_reliable_events-0.2.0", "django_reliable_events-0.2.3",
                 "django_reliable_events-0.3.0", "django_service_kit-0.2.0"]:
        (tmp_path / f"{name}-py3-none-any.whl").touch()
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["django~=6.1.0", "django-reliable-events[kafka]>=0.2,<0.3"]\n')
    assert wheels.pick(pyproject, tmp_path) == [tmp_path / "django_reliable_events-0.2.3-py3-none-any.whl"]
    pyproject.write_text('[project]\ndependencies = ["django-service-kit>=0.4,<0.5"]\n')
    with pytest.raises(wheels.NoWheel, match="django-service-kit<0.5,>=0.4 is not in .* \\(it has 0.2.0\\)"):
        wheels.pick(pyproject, tmp_path)


def test_a_project_at_the_root_gets_its_wheels_as_a_service_does(tmp_path: Path) -> None:
    wheels = pytest.importorskip("fleet.wheels")
    for folder in ("services/vote-service", "monolith"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "pyproject.toml").touch()
    assert wheels.project_of(tmp_path, "vote-service") == tmp_path / "services/vote-service/pyproject.toml"
    assert wheels.project_of(tmp_path, "monolith") == tmp_path / "monolith/pyproject.toml"


def test_the_plan_of_a_service(tmp_path: Path) -> None:
    _, polls = parse(GOOD, root=tmp_path)
    ready = tmp_path / "ready"
    one = plan(polls, port=18002, env={"A": "1"}, python="py", forwarded_allow_ips="127.0.0.1", ready_file=ready)
    assert one.migrate == Process("polls-migrate", ("py", "manage.py", "migrate", "--noinput", "-v", "0"),
                                  polls.folder, {"A": "1"})
    assert one.web.command == ("py", "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port",
                               "18002", "--no-access-log", "--forwarded-allow-ips", "127.0.0.1")
    assert [p.name for p in (*one.relays, *one.consumers)] == ["polls-relay", "polls-consumer"]
    assert one.consumers[0].command[-2:] == ("--ready-file", str(ready))
    chart = plan(polls, port=1, env={}, python="py", workers=3, relays=1, consumers=2, numbered=True)
    assert chart.web.command[-3:] == ("--workers", "3", "--no-access-log")
    assert [p.name for p in chart.consumers] == ["polls-consumer-0", "polls-consumer-1"]
    front = gateway(port=18000, upstream=upstreams([(polls, 18002)]), python="py", root=tmp_path)
    assert front.env == {"POLLS_SERVICE_URL": "http://127.0.0.1:18002"} and front.cwd == tmp_path / "gateway"


def sleeper(name: str) -> Process:
    return Process(name, (sys.executable, "-c", "import time; time.sleep(60)"), ROOT)


def test_a_killed_process_is_restarted_and_counted(tmp_path: Path) -> None:
    supervisor = Supervisor(logs=tmp_path, backoff=Backoff(first=0.1, crash_limit=None), voice="test")
    try:
        first = supervisor.add(sleeper("sleeper")).popen
        supervisor.watch_in_background()
        supervisor.kill("sleeper")
        deadline = time.monotonic() + 30
        while supervisor.restarts().get("sleeper") != 1:
            assert time.monotonic() < deadline, supervisor.events
            time.sleep(0.1)
        assert supervisor.program("sleeper").popen is not first
        assert any("sleeper exited with -9" in event for event in supervisor.events)
    finally:
        supervisor.stop_all()
    assert not supervisor.program("sleeper").running()


def test_a_retired_process_is_stopped_and_never_restarted(tmp_path: Path) -> None:
    supervisor = Supervisor(logs=tmp_path, backoff=Backoff(first=0.01, crash_limit=None), voice="test")
    try:
        blue, green = supervisor.add(sleeper("blue")), supervisor.add(sleeper("green"))
        supervisor.retire("blue")
        supervisor.tick()
        assert not blue.running() and green.running()
        assert [program.name for program in supervisor.programs] == ["green"]
    finally:
        supervisor.stop_all()


def test_a_process_that_keeps_crashing_stops_everything(tmp_path: Path) -> None:
    supervisor = Supervisor(logs=tmp_path, backoff=Backoff(first=0.01, last=0.05), voice="test")
    try:
        steady = supervisor.add(sleeper("steady"))
        supervisor.add(Process("crasher", (sys.executable, "-c", "raise SystemExit(3)"), ROOT))
        with pytest.raises(CrashLoop, match="crasher exited 6 times"):
            supervisor.watch()
        assert steady.running()
    finally:
        supervisor.stop_all()
    assert not steady.running()


def test_without_restarts_an_exit_fails_the_run(tmp_path: Path) -> None:
    supervisor = Supervisor(logs=tmp_path, backoff=None, voice="test")
    try:
        supervisor.add(Process("quitter", (sys.executable, "-c", "print('bye')"), ROOT))
        with pytest.raises(Exited, match="quitter exited with 0"):
            supervisor.wait_until(lambda: False, "never", 30)
        assert (tmp_path / "quitter.log").read_text() == "bye\n"
    finally:
        supervisor.stop_all()


def test_sigterm_stops_the_supervisors_children(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from fleet.plan import Process
        from fleet.supervisor import Supervisor
        from pathlib import Path
        supervisor = Supervisor(logs=Path({str(tmp_path)!r}), backoff=None, voice="test")
        with supervisor.stopping_on_signals():
            child = supervisor.add(Process("child", (sys.executable, "-c", "import time; time.sleep(60)"), {str(ROOT)!r}))
            print(child.popen.pid, flush=True)
            time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(30) == 0
    deadline = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < deadline, "the child outlived its supervisor's SIGTERM"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path(f"/proc/{pid}").exists() else "X"
    return status not in ("Z", "X")


def test_the_command_line_prints_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{service.service_name} {service.database}" for service in load()]
