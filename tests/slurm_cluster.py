"""A real one-node SLURM cluster on this machine, for the tests of ``mobench sweep --executor
slurm`` (tests/test_sweep_slurm.py).

It installs Debian's packages when they are missing (``slurm-wlm``, ``munge``, and for the
accounting that submitit reads job states from, ``slurmdbd`` and ``mariadb-server``), writes a
configuration for this machine's cores and memory into a folder of its own, and starts the
daemons in the background (there is no systemd to start them): ``munged``, ``mariadbd`` (unless
one already answers on its default socket), ``slurmdbd``, ``slurmctld`` and ``slurmd``. It waits
until the node is idle, and stops what it started, by pid.

Clients find the cluster through ``SLURM_CONF`` (:meth:`Cluster.environment`); nothing under
/etc is written. Every start gets a fresh state folder, cluster name and accounting database,
since a fresh cluster numbers its jobs from 1 again. Daemons inherit this process's CPU
affinity, and the jobs inherit theirs.

From a shell (``.ci/run`` starts the cluster before the test suite)::

    python tests/slurm_cluster.py start DIR   # prints export lines for the tests
    python tests/slurm_cluster.py stop DIR
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge", "slurmdbd", "mariadb-server")
DAEMONS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "scancel", "sacct", "squeue", "sinfo", "scontrol")
MYSQL_SOCKET = Path("/run/mysqld/mysqld.sock")  # where slurmdbd looks for a "localhost" MariaDB
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")  # where every SLURM daemon and client looks
PARTITIONS = ("debug", "mobench")  # the first is the default; the tests submit to the second
KILL_WAIT_S = 2  # SIGTERM to SIGKILL for cancelled and timed-out jobs (Slurm's default: 30 s)


class ClusterUnavailable(RuntimeError):
    """SLURM cannot be installed or started here (the reason is the message)."""


@dataclass(frozen=True)
class Cluster:
    """A started cluster: its folder (configuration, state, logs, pids)."""

    folder: Path

    @property
    def conf(self) -> Path:
        return self.folder / "etc" / "slurm.conf"

    def environment(self) -> dict[str, str]:
        """What a client of this cluster needs in its environment."""
        return {"SLURM_CONF": str(self.conf)}

    def command(self, *args: str, check: bool = True) -> str:
        """A SLURM client command against this cluster; its standard output."""
        done = subprocess.run(list(args), env={**os.environ, **self.environment()},
                              capture_output=True, text=True, timeout=60)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def answers(self) -> bool:
        try:
            return "idle" in self.command("sinfo", "-h", "-o", "%T", check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False


# ------------------------------------------------------------------------------------ install
def missing_programs() -> list[str]:
    return [name for name in (*DAEMONS, *CLIENTS) if shutil.which(name) is None]


def install() -> None:
    """Install the Debian packages when a program is missing (root and apt-get needed)."""
    if not missing_programs():
        return
    if os.geteuid() != 0:
        raise ClusterUnavailable(f"SLURM is not installed ({', '.join(missing_programs())} "
                                 "missing) and installing it needs root")
    if shutil.which("apt-get") is None:
        raise ClusterUnavailable("SLURM is not installed and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:  # stale or absent package lists: fetch them once
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, text=True)
        done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0 or missing_programs():
        tail = " ".join(done.stderr.strip().splitlines()[-2:])
        raise ClusterUnavailable(f"apt-get could not install {' '.join(PACKAGES)}: {tail}")


# -------------------------------------------------------------------------------- configure
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def node_line(hostname: str) -> str:
    """This machine's node as ``slurmd -C`` sees it, with RealMemory a little under the memory
    available now (so that the node is not drained for lacking what it declares)."""
    found = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    fields = dict(item.split("=", 1) for item in found.split("\n")[0].split() if "=" in item)
    available_mb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            available_mb = int(line.split()[1]) // 1024
    fields["RealMemory"] = str(max(1024, min(int(fields.get("RealMemory", available_mb)),
                                             available_mb * 9 // 10)))
    fields.pop("NodeName", None)
    fields.pop("UpTime", None)
    return " ".join([f"NodeName={hostname}", "NodeAddr=127.0.0.1",
                     *(f"{k}={v}" for k, v in fields.items()), "State=UNKNOWN"])


def write_configuration(folder: Path, name: str) -> dict[str, int]:
    hostname = socket.gethostname().split(".")[0]
    ports = {"slurmctld": free_port(), "slurmd": free_port(), "slurmdbd": free_port()}
    etc = folder / "etc"
    for sub in ("etc", "state", "spool", "log", "run"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    auth = "AuthType=auth/munge\n"
    node = node_line(hostname)
    memory = int(node.split("RealMemory=")[1].split()[0])
    cpus = int(node.split("CPUs=")[1].split()[0])
    # the tests' partition lets two jobs share a core: a run stopped on purpose (sleeping) then
    # does not keep the others waiting for a core on a small machine
    partitions = "\n".join(
        f"PartitionName={p} Nodes={hostname} Default={'YES' if i == 0 else 'NO'} "
        f"MaxTime=INFINITE State=UP OverSubscribe={'NO' if i == 0 else 'FORCE:2'}"
        for i, p in enumerate(PARTITIONS))
    (etc / "slurm.conf").write_text(f"""\
# a one-node cluster for mobench's tests (tests/slurm_cluster.py)
ClusterName={name}
SlurmctldHost={hostname}(127.0.0.1)
SlurmctldPort={ports['slurmctld']}
SlurmdPort={ports['slurmd']}
SlurmUser=root
{auth}CredType=cred/munge
StateSaveLocation={folder / 'state'}
SlurmdSpoolDir={folder / 'spool'}
SlurmctldPidFile={folder / 'run' / 'slurmctld.pid'}
SlurmdPidFile={folder / 'run' / 'slurmd.pid'}
SlurmctldLogFile={folder / 'log' / 'slurmctld.log'}
SlurmdLogFile={folder / 'log' / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU={max(256, memory // cpus // 2)}
SchedulerParameters=batch_sched_delay=0
KillWait={KILL_WAIT_S}
ReturnToService=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort={ports['slurmdbd']}
AccountingStoreFlags=job_comment
{node}
{partitions}
""")
    dbd = etc / "slurmdbd.conf"
    dbd.write_text(f"""\
{auth}DbdHost=localhost
DbdPort={ports['slurmdbd']}
SlurmUser=root
PidFile={folder / 'run' / 'slurmdbd.pid'}
LogFile={folder / 'log' / 'slurmdbd.log'}
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc={name}_acct
""")
    dbd.chmod(0o600)
    return ports


# ------------------------------------------------------------------------------------ daemons
def _start(folder: Path, name: str, command: list[str], **kwargs) -> int:  # type: ignore[no-untyped-def]
    with open(folder / "log" / f"{name}.out", "ab") as log:  # the daemon keeps its own copy
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True, **kwargs)
    pids = _read_pids(folder)
    pids[name] = process.pid
    (folder / "pids.json").write_text(json.dumps(pids))
    return process.pid


def _read_pids(folder: Path) -> dict[str, int]:
    path = folder / "pids.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _wait(what: str, ready, folder: Path, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    """Until ``ready()``; fails, with the logs' tails, when a daemon started here has died."""
    deadline = time.monotonic() + timeout
    dead = ""
    while time.monotonic() < deadline and not dead:
        if ready():
            return
        dead = next((n for n, pid in _read_pids(folder).items() if not _alive(pid)), "")
        time.sleep(0.1)
    why = f"{dead} exited" if dead else f"not within {timeout:.0f} s"
    logs = sorted((folder / "log").glob("*"))
    tails = "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-8:])
                      for p in logs)
    raise ClusterUnavailable(f"{what} did not come up ({why})\n{tails}")


def _munge_answers() -> bool:
    if not MUNGE_SOCKET.exists():
        return False
    done = subprocess.run(["munge", "-n", f"--socket={MUNGE_SOCKET}"], capture_output=True)
    return done.returncode == 0


def _mysql_answers() -> bool:
    done = subprocess.run(["mariadb", "--protocol=socket", f"--socket={MYSQL_SOCKET}", "-e",
                           "select 1"], capture_output=True)
    return done.returncode == 0


def start(folder: Path) -> Cluster:
    """Install when needed, configure and start a cluster in the new folder ``folder``; return
    once its node is idle. Raises :class:`ClusterUnavailable` when SLURM cannot run here."""
    if sys.platform != "linux":
        raise ClusterUnavailable("the test cluster needs Linux")
    install()
    if os.geteuid() != 0:
        raise ClusterUnavailable("starting the test cluster's daemons needs root")
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise ClusterUnavailable(f"{folder} is not empty: a cluster needs a fresh folder")
    cluster = Cluster(folder)
    name = "mb" + uuid.uuid4().hex[:8]
    ports = write_configuration(folder, name)
    try:
        if not _munge_answers():
            munge = pwd.getpwnam("munge")
            MUNGE_SOCKET.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            os.chown(MUNGE_SOCKET.parent, munge.pw_uid, munge.pw_gid)
            _start(folder, "munged", ["munged", "--foreground"], user=munge.pw_uid,
                   group=munge.pw_gid)
            _wait("munged", _munge_answers, folder)
        if not _mysql_answers():
            MYSQL_SOCKET.parent.mkdir(parents=True, exist_ok=True)
            _start(folder, "mariadbd", ["mariadbd", "--user=root", "--skip-networking",
                                        f"--socket={MYSQL_SOCKET}",
                                        f"--pid-file={folder / 'run' / 'mariadbd.pid'}"])
            _wait("MariaDB", _mysql_answers, folder)
        env = {**os.environ, **cluster.environment()}
        _start(folder, "slurmdbd", ["slurmdbd", "-D"], env=env)
        _wait("slurmdbd", lambda: _port_open(ports["slurmdbd"]), folder)
        _start(folder, "slurmctld", ["slurmctld", "-D", "-i"], env=env)
        _wait("slurmctld", lambda: _port_open(ports["slurmctld"]), folder)
        _start(folder, "slurmd", ["slurmd", "-D"], env=env)
        _wait("the node", cluster.answers, folder)
    except BaseException:
        stop(folder)
        raise
    return cluster


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def stop(folder: Path) -> None:
    """Cancel the cluster's jobs, drop its accounting database and stop the daemons started in
    ``folder`` (by pid, last started first)."""
    folder = Path(folder).resolve()
    pids = _read_pids(folder)
    cluster = Cluster(folder)
    if "slurmctld" in pids and _alive(pids["slurmctld"]):
        try:
            cluster.command("scancel", "--user", pwd.getpwuid(os.geteuid()).pw_name, check=False)
            deadline = time.monotonic() + KILL_WAIT_S + 10
            while cluster.command("squeue", "-h", check=False).strip() and \
                    time.monotonic() < deadline:
                time.sleep(0.2)
        except (OSError, subprocess.TimeoutExpired):
            pass
    for name in reversed(DAEMONS):
        if name == "mariadbd" and "slurmdbd" in pids and _mysql_answers():
            database = _database_name(folder)
            if database:
                subprocess.run(["mariadb", f"--socket={MYSQL_SOCKET}", "-e",
                                f"DROP DATABASE IF EXISTS `{database}`"], capture_output=True)
        if name in pids:
            _terminate(pids[name])


def _database_name(folder: Path) -> str:
    conf = folder / "etc" / "slurmdbd.conf"
    if not conf.exists():
        return ""
    for line in conf.read_text().splitlines():
        if line.startswith("StorageLoc="):
            return line.split("=", 1)[1].strip()
    return ""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie that its new parent has not reaped yet does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _terminate(pid: int, timeout: float = 15.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:  # not our child (started by another process): poll it
            if not _alive(pid):
                return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(__doc__, file=sys.stderr)
        return 2
    folder = Path(argv[1])
    if argv[0] == "stop":
        stop(folder)
        return 0
    started = time.monotonic()
    try:
        cluster = start(folder)
    except ClusterUnavailable as error:
        print(f"slurm_cluster: {error}", file=sys.stderr)
        return 1
    print(f"slurm_cluster: up in {time.monotonic() - started:.1f} s ({cluster.conf})",
          file=sys.stderr)
    for key, value in cluster.environment().items():
        print(f"export {key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
