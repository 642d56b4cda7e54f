"""End to end against oteltap, an OTLP/HTTP receiver nobody here wrote (Rust, from PyPI).

The real runtime answers questions carrying a marker word while telemetry runs on a
short interval; afterwards every interval must have reached oteltap exactly once (by
batch id), with the device's resource attributes, and neither the marker nor any answer
text may appear in anything received or in the outbox file.

oteltap hands tests single Metric / LogRecord messages (no resource), so it re-emits
each request as received to a capture server, where the resource is checked.
oteltap cannot read gzip bodies (HTTP 400), so this kiosk is set to compression = none.
"""

from __future__ import annotations

import asyncio
import uuid

from oteltap import OtelTapHttpProtobufReceiver, OtelTapHttpProtobufReceiverSettings
from telemetry_support import FakeCollector, attrs, free_port, metadata, telemetry_config

from kiosk import runtime
from kiosk.telemetry.otlp import Sender
from kiosk.telemetry.outbox import Outbox
from kiosk.telemetry.status import status


async def test_every_interval_reaches_oteltap_once_with_device_attributes_and_no_words(tmp_path):
    marker = "quokka" + uuid.uuid4().hex[:8]
    capture = FakeCollector().start()
    port = free_port()
    settings = OtelTapHttpProtobufReceiverSettings(
        http_port=port,
        reemit_metrics_to_url=f"{capture.url}/v1/metrics",
        reemit_logs_to_url=f"{capture.url}/v1/logs",
    )
    cfg = telemetry_config(tmp_path, f"http://127.0.0.1:{port}", compression="none", interval_s=0.25)
    metrics, logs = [], []
    async with OtelTapHttpProtobufReceiver(settings) as tap:

        async def gather(stream, into):
            async for item in stream:
                into.append(item)

        tasks = [asyncio.create_task(gather(tap.stream_metrics(), metrics)),
                 asyncio.create_task(gather(tap.stream_logs(), logs))]  # fmt: skip
        rt = runtime.build(cfg, with_llm=False)
        answers = []
        try:
            conv = rt.assistant.start_conversation("kiosk")
            for q in (f"When is storytime {marker}?", f"Can I print here {marker}?", f"{marker} " * 200):
                closing = await rt.assistant.ask(conv, q)
                answers.append(getattr(closing, "text", ""))
            rt.assistant.reset(conv, "idle")
            await asyncio.sleep(1.2)  # a few intervals
        finally:
            await asyncio.to_thread(rt.close)  # the last, partial interval is written too
        box = Outbox.from_config(cfg)
        await asyncio.to_thread(Sender(cfg, box).flush, 20.0)  # what the sender had not sent yet
        box.close()
        produced = status(cfg).produced
        seqs = lambda: {metadata(m)["kiosk.batch_seq"] for m in metrics if m.name == "kiosk.process.uptime"}  # noqa: E731
        for _ in range(200):
            if len(seqs()) >= produced and len(capture.metric_batches()) >= produced:
                break
            await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()
    capture.close()

    assert produced >= 4
    assert status(cfg).batches == 0
    # every interval exactly once, by batch id
    per_batch: dict[tuple[str, int], int] = {}
    for m in metrics:
        if m.name == "kiosk.process.uptime":
            md = metadata(m)
            key = (md["kiosk.batch_id"], md["kiosk.batch_seq"])
            per_batch[key] = per_batch.get(key, 0) + 1
    assert sorted(seq for _, seq in per_batch) == list(range(1, produced + 1))
    assert set(per_batch.values()) == {1}
    # what the kiosk did, as a fleet operator sees it
    turns = {}
    for m in metrics:
        if m.name == "kiosk.turns":
            for dp in m.sum.data_points:
                turns[attrs(dp.attributes)["outcome"]] = dp.as_int
    assert turns.get("instant", 0) + turns.get("llm", 0) + turns.get("refused", 0) >= 2
    faults = [r for r in logs if attrs(r.attributes).get("kiosk.fault.code") == "input.too-long"]
    assert faults and attrs(faults[0].attributes)["kiosk.fault.fix"]
    # the device's resource attributes, from the requests oteltap received and passed on
    resources = [
        attrs(rm.resource.attributes)
        for r in capture.received
        for rm in getattr(r.req, "resource_metrics", [])
    ]
    assert resources
    for res in resources:
        assert res["service.name"] == "kiosk" and res["service.instance.id"] == "kiosk-t18"
        assert res["service.version"] and res["host.name"]
        assert (res["kiosk.fleet"], res["kiosk.site"]) == ("north", "riverside")
    # no text of any conversation, anywhere
    needles = [marker.encode()] + [a[:40].encode() for a in answers if len(a) > 20]
    assert len(needles) >= 2
    haystacks = [m.SerializeToString() for m in metrics] + [r.SerializeToString() for r in logs]
    haystacks += [r.raw for r in capture.received]  # the very bytes the outbox held (decompressed)
    for needle in needles:
        assert not any(needle in h for h in haystacks), needle
