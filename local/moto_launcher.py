"""Runs moto's server for the local runtime (see moto-server.ts), with five changes and no others.

1. DynamoDB requests are handled one at a time. Moto serves every request on a thread of its
   own, and its DynamoDB backend is not thread-safe: a conditional write checks, then writes,
   and TransactWriteItems snapshots whole tables and restores the snapshot when one of its items
   fails, which erases writes other requests made meanwhile. Measured through the AWS SDK,
   concurrent transactions on one key let two writers win, lost acknowledged writes and failed
   with HTTP 500 ("dictionary changed size during iteration"). DynamoDB applies every write and
   every transaction atomically, so one process-wide lock around DynamoDB makes the emulator
   faithful. Other services (SQS long polls above all) keep running concurrently.
2. The server exits as soon as the process that started it is gone, whatever killed it
   (SIGKILL included): its stdin is a pipe from that process, which the kernel closes when the
   process dies, and its parent pid changes when it is re-parented.
3. S3 decodes an aws-chunked body (a streamed upload with its checksum in a trailer, which the
   AWS SDK sends for any stream) in linear time. Moto appends each chunk to an immutable bytes
   object, copying everything received so far for every chunk: 4 s for 25 MiB in 64 KiB chunks,
   60 s for 100 MiB, all under the GIL. The same bytes come out, only without the copying.
4. An SQS long poll returns as soon as a delayed message (or one whose visibility timeout ends)
   comes due, as SQS's does. Moto wakes a waiting poll only when a message is sent, and otherwise
   looks again once a second, so every delayed message (each poll heartbeat) reached its consumer
   0–1 s late, 0.5 s on average, and a retry after a visibility change as late.
5. EventBridge compiles the JSONPath expressions of its default input template once. Moto builds
   eight JSONPath parsers (PLY parse tables) for every event and every rule it matches: 250 ms of
   CPU per PutEvents, under the GIL, which slowed every other request of the emulator (half a core
   for an event a second). The compiled expressions are the same every time; the output is too.

Usage: python moto_launcher.py --parent-pid <pid> [moto.server arguments, e.g. -H 127.0.0.1 -p 0]
"""

import argparse
import io
import os
import sys
import threading
import time

import functools

import jsonpath_ng.ext
from moto import server
from moto.core.utils import unix_time_millis
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.s3.responses import S3Response
from moto.sqs.models import Queue, SQSBackend

DYNAMODB_LOCK = threading.Lock()
PARENT_POLL_SECONDS = 0.5


class SerialisedDynamoDB(DomainDispatcherApplication):
    """Moto's own dispatcher; DynamoDB's answers are produced whole, under the lock."""

    def __call__(self, environ, start_response):
        app = self.get_application(environ)
        # `service` is what moto's create_backend_app names the backend app after.
        if not str(getattr(app, "service", "")).startswith("dynamodb"):
            return app(environ, start_response)
        with DYNAMODB_LOCK:
            response = app(environ, start_response)
            try:
                return [b"".join(response)]
            finally:
                close = getattr(response, "close", None)
                if close is not None:
                    close()


def handle_encoded_body(self, body):
    """moto's S3Response._handle_encoded_body, joining the chunks once instead of appending."""
    if not body:
        return b""
    if isinstance(body, bytes):
        body = io.BytesIO(body)
    chunks = []
    # '{hex length}\r\n{data}\r\n' per chunk, then '0\r\n' and the trailer, which moto reads elsewhere.
    length = int(body.readline().strip(), 16)
    while length > 0:
        chunks.append(body.read(length))
        body.readline()
        length = int(body.readline().strip(), 16)
    return b"".join(chunks)


def wait_for_messages(self, timeout):
    """moto's Queue.wait_for_messages, also waking when a delayed or invisible message comes due."""
    deadline = time.monotonic() + timeout
    with self._messages_lock:
        while not self.messages:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            now = unix_time_millis()
            due = [max(m.visible_at, m.delayed_until) for m in self._messages]
            upcoming = [at for at in due if at >= now]
            # `visible` and `delayed` compare in whole milliseconds: wake just after the due time.
            wait = min(left, (min(upcoming) - now) / 1000 + 0.002) if upcoming else left
            self._messages_lock.wait(wait)


original_change_message_visibility = SQSBackend.change_message_visibility


def change_message_visibility(self, queue_name, receipt_handle, visibility_timeout):
    """moto's, then a wake-up for the long polls waiting on the queue (their due times changed)."""
    original_change_message_visibility(self, queue_name, receipt_handle, visibility_timeout)
    queue = self.get_queue(queue_name)
    with queue._messages_lock:
        queue._messages_lock.notify_all()


def exit_with_parent(parent_pid):
    def when_stdin_closes():
        try:
            while sys.stdin.buffer.read(65536):
                pass
        finally:
            os._exit(0)

    def when_reparented():
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(0)

    for watch in (when_stdin_closes, when_reparented):
        threading.Thread(target=watch, daemon=True).start()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parent-pid", type=int, required=True)
    args, moto_args = parser.parse_known_args()
    exit_with_parent(args.parent_pid)
    # moto.server.main builds its app from this module-level name when it runs.
    server.DomainDispatcherApplication = SerialisedDynamoDB
    S3Response._handle_encoded_body = handle_encoded_body
    Queue.wait_for_messages = wait_for_messages
    SQSBackend.change_message_visibility = change_message_visibility
    # moto.events.utils imports `parse` from the module at each call: it gets the cached one.
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=64)(jsonpath_ng.ext.parse)
    server.main(moto_args)


if __name__ == "__main__":
    main()
