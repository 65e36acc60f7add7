"""Attack: at import, tries every channel two parts (of one student or of two colluding ones) could share,
or that outlives a part: a socket of any family (network, an abstract unix name, vsock), a kernel key, a
POSIX message queue, a System V segment, a new user namespace. It reports which it opened, as the reason
its import fails; nothing here is solved.

A grader whose containment leaves one open lets a part hand a solution to another (a key holding the
reference zero_padding found in a 9.3.d workspace, read back for 9.3.a), or leave objects behind.
"""
import ctypes
import os
import socket

MARKER = "@@MARKER@@"
_libc = ctypes.CDLL(None, use_errno=True)
_SYSCALL = {"x86_64": {"add_key": 248, "mq_open": 240}, "aarch64": {"add_key": 217, "mq_open": 180}}


def _checked(result):
    if result < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return result


def _abstract_socket():
    a, _ = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.bind(b"\0" + MARKER.encode())


def _vsock():
    socket.socket(getattr(socket, "AF_VSOCK", 40), socket.SOCK_STREAM).close()


def _key():
    number = _SYSCALL[os.uname().machine]["add_key"]
    # KEY_SPEC_USER_KEYRING (-4): the keyring every process of the uid shares
    _checked(_libc.syscall(number, b"user", MARKER.encode(), b"solution", 8, ctypes.c_int(-4)))


def _message_queue():
    number = _SYSCALL[os.uname().machine]["mq_open"]
    fd = _checked(_libc.syscall(number, MARKER.encode(), os.O_CREAT | os.O_RDWR, 0o666, None))
    os.close(fd)


def _shared_memory():
    _checked(_libc.shmget(0, 4096, 0o1000 | 0o666))  # IPC_CREAT


def _user_namespace():
    _checked(_libc.unshare(0x10000000))  # CLONE_NEWUSER


CHANNELS = {
    "a TCP socket": lambda: socket.socket().close(),
    "an abstract unix socket": _abstract_socket,
    "a vsock socket": _vsock,
    "a kernel key": _key,
    "a POSIX message queue": _message_queue,
    "a System V shared memory segment": _shared_memory,
    "a user namespace": _user_namespace,
}


def _open_channels():
    opened = []
    for name, attempt in CHANNELS.items():
        try:
            attempt()
            opened.append(name)
        except OSError:
            pass
    return opened


raise ImportError(f"side channels opened: {', '.join(_open_channels()) or 'none'}")
