#!/usr/bin/env python3
"""A peer of `cancelq bench postgres`: the same per-job work done by a PgQueuer consumer.

Per job, as cancelq does: one HTTP POST of a small XML body to the gateway, then one committed
audit row (peer_audit) written in the job's handler. N jobs are enqueued first (PgQueuer's own
batch enqueue); the time is from the consumer's start until it has drained the queue.

    pip install pgqueuer asyncpg aiohttp
    python3 bench/pgqueuer_peer.py --dsn postgresql://user@127.0.0.1:5432/peer --jobs 10000 \
        --url http://127.0.0.1:18443/cgi-bin/secure/api.cgi   # nginx with bench/nginx-success.conf

The database should be empty: the schema is installed with `pgq install` (durable, the default).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import subprocess
import sys
import time

import aiohttp
import asyncpg
from pgqueuer import Job, Queries, QueueManager
from pgqueuer.domain.types import QueueExecutionMode

ENTRYPOINT = "cancel"
ENQUEUE_BATCH = 1000
STATUS = re.compile(rb"<status>([^<]*)</status>")
CODE = re.compile(rb"<code>([^<]*)</code>")


def request_body(order_number: str) -> bytes:
    """The shape of cancelq's payment_return request (Sources/ZeusAPI/PaymentReturnRequest.swift)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<request service="secure_link" action="payment_return">\n'
        "<authentication>\n<clientip>12345</clientip>\n<key>bench-key</key>\n</authentication>\n"
        f"<return>\n<order_number>{order_number}</order_number>\n</return>\n</request>\n"
    ).encode()


def install_schema(dsn: str) -> None:
    """PgQueuer's own installer; an existing installation is kept (it exits 1 and says so)."""
    result = subprocess.run(
        [sys.executable, "-m", "pgqueuer", "--pg-dsn", dsn, "install"], capture_output=True, text=True
    )
    if result.returncode != 0 and "already installed" not in result.stderr:
        sys.exit(f"pgq install failed:\n{result.stderr}")


async def prepare(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS peer_audit (job_id bigint PRIMARY KEY, status text NOT NULL,"
            " code text NOT NULL, at timestamptz NOT NULL DEFAULT now())"
        )
        queued = await connection.fetchval("SELECT count(*) FROM pgqueuer")
        audited = await connection.fetchval("SELECT count(*) FROM peer_audit")
        if queued or audited:
            sys.exit(f"the database is not empty (pgqueuer {queued} rows, peer_audit {audited}): use a fresh one")
    finally:
        await connection.close()


async def enqueue(dsn: str, jobs: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        queries = Queries.from_asyncpg_connection(connection)
        for start in range(0, jobs, ENQUEUE_BATCH):
            count = min(ENQUEUE_BATCH, jobs - start)
            payloads = [f"PEER-{start + i}".encode() for i in range(count)]
            await queries.enqueue([ENTRYPOINT] * count, payloads, [0] * count)
    finally:
        await connection.close()


async def consume(dsn: str, url: str, concurrency: int) -> None:
    """Runs the consumer in drain mode: it returns once the queue is empty and every job is done."""
    connection = await asyncpg.connect(dsn)
    # The handlers' audit rows go through a pool of their own: the queue's connection is PgQueuer's.
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
    try:
        manager = QueueManager(Queries.from_asyncpg_connection(connection))

        @manager.entrypoint(ENTRYPOINT)
        async def cancel(job: Job) -> None:
            order = (job.payload or b"").decode()
            async with http.post(url, data=request_body(order), headers={"Content-Type": "application/xml"}) as answer:
                body = await answer.read()
            status, code = STATUS.search(body), CODE.search(body)
            if answer.status != 200 or status is None or code is None:
                raise RuntimeError(f"{order}: HTTP {answer.status}, no result in the answer")
            # Autocommit: the row is committed before the job counts as done.
            await pool.execute(
                "INSERT INTO peer_audit(job_id, status, code) VALUES ($1, $2, $3)",
                job.id, status.group(1).decode(), code.group(1).decode(),
            )

        # PgQueuer requires max_concurrent_tasks >= 2 * batch_size.
        await manager.run(
            mode=QueueExecutionMode.drain, max_concurrent_tasks=concurrency, batch_size=max(1, concurrency // 2)
        )
    finally:
        await http.close()
        await pool.close()
        await connection.close()


async def audited(dsn: str) -> tuple[int, int]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetchval("SELECT count(*) FROM peer_audit")
        left = await connection.fetchval("SELECT count(*) FROM pgqueuer")
        return rows, left
    finally:
        await connection.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="postgresql://… of an empty database")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--url", default="http://127.0.0.1:18443/cgi-bin/secure/api.cgi")
    parser.add_argument(
        "--ready-file", help="written once the jobs are queued; the consumer starts when it is removed (for outside measurements)"
    )
    args = parser.parse_args()
    if args.concurrency < 2:
        parser.error("--concurrency must be at least 2 (PgQueuer: max_concurrent_tasks >= 2 * batch_size)")

    install_schema(args.dsn)
    await prepare(args.dsn)
    await enqueue(args.dsn, args.jobs)
    if args.ready_file:
        await wait_for_go(args.ready_file)
    started, cpu_before = time.monotonic(), cpu_seconds()
    await consume(args.dsn, args.url, args.concurrency)
    elapsed, cpu = time.monotonic() - started, cpu_seconds() - cpu_before
    rows, left = await audited(args.dsn)
    print(f"pgqueuer: {args.jobs} jobs in {elapsed:.2f} s = {args.jobs / elapsed:.0f} jobs/s")
    print(f"  CPU per job       {cpu / args.jobs * 1e6:.1f} µs (the consumer process: {cpu:.2f} s user+system)")
    if rows != args.jobs or left:
        print(f"pgqueuer: {rows} audit rows for {args.jobs} jobs, {left} left in the queue")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def wait_for_go(path: str) -> None:
    """Tells the caller the queue is filled, then waits for it to remove the file."""
    with open(path, "w") as ready:
        ready.write("queued\n")
    while os.path.exists(path):
        await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(main())
