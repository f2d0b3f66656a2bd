"""A long-lived `openstack` CLI for the compatibility tests (see test/helpers/openstack.ts).

Started as `<the openstack script's interpreter> openstack-worker.py <path of the openstack
script>` with exactly the environment (and working directory) a one-off `openstack` process
would get, so that module-level values computed at import time from the environment (e.g.
openstack.config.loader's search path from HOME and the cwd) are the ones a fresh process would
compute. It then reads one JSON request per line on its stdin, {"id": n, "argv": [...]}, runs
`openstackclient.shell.main(argv)` in this process - the code the `openstack` script runs - and
answers with one JSON line on its stdout, {"id": n, "code": exit status, "stdout": ...,
"stderr": ...}.

Per command it gives the CLI what a fresh process would have:
- sys.stdout / sys.stderr are new in-memory text streams (UTF-8, not a terminal) bound before
  main() builds its cliff App (which captures them), so --debug logging, tracebacks and
  argparse errors land in that command's stderr; sys.stdin is /dev/null, sys.argv[0] is the
  script's path (argparse's program name);
- the exit status is what `sys.exit(main())` would make of main()'s return value or of a
  SystemExit (None -> 0, an int -> its low 8 bits, anything else printed to stderr -> 1), and an
  uncaught exception prints its traceback and gives 1;
- afterwards every piece of process-wide state the CLI is known to change is put back as it was
  before the first command: the root logger's handlers (closed and removed) and level, every
  logger's level/handlers/propagate/disabled, logging.disable, the warnings filters,
  os.environ, the working directory, sys.argv/stdin/stdout/stderr, and the clients osc_lib
  caches on the ClientManager class (which would otherwise hand the next command the previous
  one's connection, token and endpoints - `quota show` then passed where a fresh process
  fails); whatever importing the CLI printed is put in front of each command's output, as a
  fresh process prints it before every command; non-daemon threads the
  command started are joined (as interpreter exit would), and a garbage collection closes any
  socket left open (as process exit would) before the answer is sent.
On SIGUSR1 (sent by the test helper when a command outlives its timeout) it writes what the
hung command printed so far and its stack as a {"id", "timeout": true, ...} line; the helper
then kills this process and starts a new one. It exits at end of input or when its parent dies.
"""

import faulthandler
import gc
import io
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
import warnings

SCRIPT = sys.argv[1]
# cliff.app takes the program's name (`openstack --version`) from sys.argv[0] at import time.
sys.argv = [SCRIPT]

# The one-off `openstack` script runs with its own directory first on sys.path.
sys.path[0] = os.path.dirname(os.path.abspath(SCRIPT))

# The protocol uses private copies of fds 0 and 1; the CLI gets /dev/null as fd 0, and anything
# written to fd 1 directly (bypassing sys.stdout) goes to our stderr instead of the protocol.
requests_in = os.fdopen(os.dup(0), 'rb')
answers_out = os.fdopen(os.dup(1), 'wb')
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)
os.close(_devnull)
os.dup2(2, 1)
DIAG = sys.__stderr__


def _capture(like):
    return io.TextIOWrapper(io.BytesIO(), encoding=like.encoding, errors=like.errors, write_through=True)


def _text(stream):
    try:
        stream.flush()
        return stream.buffer.getvalue().decode('utf-8', 'replace')
    except ValueError:  # closed by the command
        return ''


# What importing the CLI prints (e.g. "WARNING: Failed to import plugin ...") a fresh process
# prints before every command: it goes in front of each command's own output.
sys.stdout, sys.stderr = _capture(sys.__stdout__), _capture(sys.__stderr__)
from openstackclient import shell  # noqa: E402
from osc_lib import clientmanager  # noqa: E402

IMPORT_STDOUT, IMPORT_STDERR = _text(sys.stdout), _text(sys.stderr)
sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__

PARENT = os.getppid()


def _watch_parent():
    while True:
        if os.getppid() != PARENT:
            os._exit(1)
        time.sleep(1)


threading.Thread(target=_watch_parent, daemon=True, name='watch-parent').start()
faulthandler.enable(file=DIAG)


def _logger_state():
    manager = logging.Logger.manager
    state = {'': (logging.root.level, list(logging.root.handlers), True, logging.root.disabled)}
    for name, lg in list(manager.loggerDict.items()):
        if isinstance(lg, logging.Logger):
            state[name] = (lg.level, list(lg.handlers), lg.propagate, lg.disabled)
    return state, manager.disable


def _restore_loggers(saved):
    state, disable = saved
    logging.disable(disable)
    loggers = {'': logging.root}
    for name, lg in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger):
            loggers[name] = lg
    for name, lg in loggers.items():
        # A logger first created by a command is put back as getLogger() creates one; handlers
        # added at import time (only NullHandlers in this stack) are kept.
        level, handlers, propagate, disabled = state.get(
            name, (logging.NOTSET, [h for h in lg.handlers if isinstance(h, logging.NullHandler)], True, False)
        )
        for h in list(lg.handlers):
            if h not in handlers:
                lg.removeHandler(h)
                try:
                    h.close()
                except Exception:
                    pass
        for h in handlers:
            if h not in lg.handlers:
                lg.addHandler(h)
        lg.setLevel(level)  # also clears the loggers' isEnabledFor caches
        lg.propagate = propagate
        lg.disabled = disabled


def _forget_clients():
    # osc_lib's ClientCache descriptors keep the client a command made (with its connection,
    # session, token and endpoints) on the ClientManager *class*; a fresh process has none.
    classes, todo = set(), [clientmanager.ClientManager]
    for mod in list(sys.modules.values()):
        cls = getattr(mod, 'ClientManager', None)
        if isinstance(cls, type):
            todo.append(cls)
    while todo:
        cls = todo.pop()
        if cls in classes:
            continue
        classes.add(cls)
        todo.extend(cls.__subclasses__())
        for v in list(vars(cls).values()):
            if type(v).__name__ == 'ClientCache' and getattr(v, '_handle', None) is not None:
                v._handle = None


def _exit_status(code, err):
    # What the interpreter does with `sys.exit(code)`.
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        err.write(str(code) + '\n')
    except Exception:
        pass
    return 1


BASE_LOGGING = _logger_state()
BASE_FILTERS = list(warnings.filters)
BASE_ENV = dict(os.environ)
BASE_CWD = os.getcwd()
BASE_THREADS = set(threading.enumerate())
STDIN = open(os.devnull)

current = None  # (id, stdout, stderr) of the command running


def _on_timeout(signum, frame):
    if current is None:
        return
    rid, out, err = current
    stack = ''.join(traceback.format_stack(frame))
    answers_out.write(
        (
            json.dumps({'id': rid, 'timeout': True, 'stdout': _text(out), 'stderr': _text(err), 'stack': stack})
            + '\n'
        ).encode()
    )
    answers_out.flush()


signal.signal(signal.SIGUSR1, _on_timeout)


def run(rid, argv):
    global current
    out, err = _capture(sys.__stdout__), _capture(sys.__stderr__)
    out.write(IMPORT_STDOUT)
    err.write(IMPORT_STDERR)
    sys.stdout, sys.stderr, sys.stdin = out, err, STDIN
    sys.argv = [SCRIPT, *argv]
    current = (rid, out, err)
    try:
        try:
            code = _exit_status(shell.main(argv), err)
        except SystemExit as e:
            code = _exit_status(e.code, err)
        except BaseException:
            traceback.print_exc(file=err)
            code = 1
        for t in threading.enumerate():
            if t not in BASE_THREADS and not t.daemon and t is not threading.current_thread():
                t.join(30)
                if t.is_alive():
                    DIAG.write(f'openstack-worker: thread {t.name} still runs after its command\n')
        _forget_clients()
        gc.collect()
        return {'id': rid, 'code': code, 'stdout': _text(out), 'stderr': _text(err)}
    finally:
        current = None
        sys.stdout, sys.stderr, sys.stdin = sys.__stdout__, sys.__stderr__, sys.__stdin__
        sys.argv = [SCRIPT]
        _restore_loggers(BASE_LOGGING)
        warnings.filters[:] = BASE_FILTERS
        warnings._filters_mutated()
        warnings.onceregistry.clear()
        if dict(os.environ) != BASE_ENV:
            os.environ.clear()
            os.environ.update(BASE_ENV)
        if os.getcwd() != BASE_CWD:
            os.chdir(BASE_CWD)
        for s in (out, err):
            try:
                s.close()
            except Exception:
                pass


for line in requests_in:
    request = json.loads(line)
    answer = run(request['id'], request['argv'])
    answers_out.write((json.dumps(answer) + '\n').encode())
    answers_out.flush()
