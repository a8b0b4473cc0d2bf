"""A pass-through faust agent: raw topic -> learning-events topic with no processing, the worker's ceiling.

    python bench/passthrough.py [--unbatched]     # settings from LEARNSTREAM_ variables, like `learnstream worker`

Both variants write each record as they read it: key, value and headers (the connector's sent-at header, which
the worker forwards too). Batched (the default) does what the learnstream worker does: `take_events` batches,
sends straight to the aiokafka producer under faust's, waits for every acknowledgement before the next batch.
`--unbatched` is faust's usual path: one `Topic.send` per event.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import faust

from learnstream.settings import load_settings
from streams.app import acknowledged, aiokafka_producer, build_faust_app, tune_garbage_collection


def create_passthrough_app(batched: bool) -> faust.App:
    settings = load_settings()
    app = build_faust_app(settings)
    names = settings.topics.names
    raw = app.topic(names.activity_raw, key_type=bytes, value_type=bytes)
    out = app.topic(names.learning_events, key_type=bytes, value_type=bytes)
    batch_size, within_s = settings.worker.batch_size, settings.worker.batch_within_s

    async def forward_batched(stream: Any) -> None:
        async for batch in stream.take_events(batch_size, within=within_s):
            producer = aiokafka_producer(app)
            deliveries = []
            for event in batch:
                message = event.message
                headers = list(message.headers) if message.headers else None  # aiokafka takes a list, reads a tuple
                send = producer.send(names.learning_events, message.value, key=message.key, headers=headers)
                deliveries.append(await send)  # an asyncio future, as in the worker
            await acknowledged(deliveries)

    async def forward_one_by_one(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            await out.send(key=message.key, value=message.value, headers=message.headers)

    agent = forward_batched if batched else forward_one_by_one
    app.agent(raw, name="passthrough", concurrency=1)(agent)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--unbatched", action="store_true", help="one Topic.send per event (faust's usual path)")
    args = parser.parse_args()
    app = create_passthrough_app(batched=not args.unbatched)
    tune_garbage_collection(app)  # the same process tuning as `learnstream worker`
    sys.argv = sys.argv[:1]
    faust.Worker(app, loglevel="info", redirect_stdouts=False).execute_from_commandline()


if __name__ == "__main__":
    main()
