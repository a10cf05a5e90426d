"""Starting iobound from the Python test drivers (tests/proxy/run.py, tests/soak/run.py): on
127.0.0.1:0, with the bound port read from the start-up line, as tests/it/harness.c does."""
import re
import signal
import subprocess
import time

START_S = 15.0


def start(binary, mode, stderr_path, extra_args=(), env=None):
    """Starts `binary --listen 127.0.0.1:0 --mode mode extra_args...` with its stderr in
    stderr_path. Returns (Popen, port, the open stderr file); raises RuntimeError, after killing
    it, when it does not print `listening on 127.0.0.1:PORT` within START_S."""
    err = open(stderr_path, "w+b")
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--mode", mode, *extra_args],
                            stdout=subprocess.DEVNULL, stderr=err, env=env)
    end = time.monotonic() + START_S
    while time.monotonic() < end:
        err.seek(0)
        m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", err.read())
        if m:
            return proc, int(m.group(1)), err
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    err.seek(0)
    text = err.read()[-2000:].decode(errors="replace")
    err.close()
    raise RuntimeError("%s --mode %s did not start:\n%s" % (binary, mode, text))


def stop(proc, timeout_s):
    """SIGTERM to proc (a process we started), then SIGKILL if it has not exited within
    timeout_s. Returns its exit code (negative: the signal that ended it)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()
