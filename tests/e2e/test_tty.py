"""pincer run on a terminal: an interactive shell works (job control,
window size), and the agent's terminal is a pty of its own, not ours."""
import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time

from conftest import PINCER


def spawn_on_pty(ident, argv, rows=33, cols=101):
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(ident.proj)
        env = ident.env({"TERM": "xterm"})
        full = ident.prefix + [PINCER, "run", "--audit", str(ident.audit)] + argv
        os.execvpe(full[0], full, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return pid, fd


def read_until(fd, needle, timeout=15):
    buf = b""
    deadline = time.time() + timeout
    while needle.encode() not in buf:
        left = deadline - time.time()
        if left <= 0:
            raise AssertionError(f"{needle!r} not seen in {buf.decode(errors='replace')!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf.decode(errors="replace")


def finish(pid, fd):
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status)


def test_interactive_shell_job_control_and_window_size(pincer):
    pid, fd = spawn_on_pty(pincer, ["--", "/bin/bash", "--norc", "--noprofile", "-i"])
    os.write(fd, b"PS1='pincer$ '\n")
    read_until(fd, "pincer$ ")
    os.write(fd, b"stty size; tty\n")
    out = read_until(fd, "/dev/pts/")
    assert "33 101" in out
    # Window size follows the outer terminal.
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    os.kill(pid, signal.SIGWINCH)
    time.sleep(0.3)
    os.write(fd, b"stty size\n")
    read_until(fd, "40 120")
    # Job control: a background job, listed, brought back and stopped.
    os.write(fd, b"sleep 30 &\n")
    read_until(fd, "[1]")
    os.write(fd, b"jobs\n")
    read_until(fd, "Running")
    os.write(fd, b"kill %1\n")
    time.sleep(0.3)
    os.write(fd, b"\n")  # bash reports finished jobs at the next prompt
    read_until(fd, "Terminated")
    # Ctrl-C reaches the foreground job inside, not pincer.
    os.write(fd, b"sleep 30\n")
    time.sleep(0.5)
    os.write(fd, b"\x03")
    os.write(fd, b"echo after-ctrl-c\n")
    read_until(fd, "after-ctrl-c")
    os.write(fd, b"exit 5\n")
    assert finish(pid, fd) == 5


def test_terminal_settings_restored_after_exit(pincer):
    # While the agent runs pincer puts its terminal in raw mode; afterwards
    # the terminal is as it was (echo and line editing on).
    pid, fd = spawn_on_pty(pincer, ["--", "/bin/sh", "-c", "stty -a | head -c 0; echo done"])
    read_until(fd, "done")
    _, status = os.waitpid(pid, 0)
    attrs = termios.tcgetattr(fd)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert attrs[3] & termios.ECHO and attrs[3] & termios.ICANON
