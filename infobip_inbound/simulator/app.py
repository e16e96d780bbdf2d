"""The simulator's HTTP side: Infobip's endpoints (same paths, answers and error bodies; the send side's are
in sending.py) and the admin endpoints under /_sim that tests and `dev` use to drive it and read its counters."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from infobip_inbound.simulator import schemas
from infobip_inbound.simulator.answers import infobip_error, json_response
from infobip_inbound.simulator.devices import Devices
from infobip_inbound.simulator.forwarder import Forwarder
from infobip_inbound.simulator.generator import Generator
from infobip_inbound.simulator.sending import Sending
from infobip_inbound.simulator.state import Application, Options, World
from infobip_inbound.simulator.throttle import Throttle

log = logging.getLogger("simulator")

PULL_DEFAULT_LIMIT = 50
PULL_MAX_LIMIT = 1000
APP = "/push/1/applications/{app}/configurations"

Handler = Callable[[Request], Awaitable[Response]]


class ConnectionDropped(Exception):
    """Raised after a partial answer: the server closes the connection mid-body."""


class _DroppedResponse(Response):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        length = str(len(self.body) + 64).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", length)]})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True})
        raise ConnectionDropped("fault injection: connection dropped")


class Simulator:
    def __init__(self, options: Options) -> None:
        self.options = options
        self._rng = random.Random(options.seed)  # noqa: S311 - simulation, not cryptography
        self.world = World(options)
        self.throttle = Throttle(options.requests_per_second)
        self.generator = Generator(options.application_codes, seed=options.seed)
        self.forwarder = Forwarder(self.world, self._rng)
        self._generating: asyncio.Task[None] | None = None
        self.devices = self._new_devices()
        self.sending = Sending(lambda: self.world, self._new_key, lambda *args: self.devices.delivered(*args))

    def _new_devices(self) -> Devices:
        return Devices(lambda: self.world, self.generator, self.receive, self._rng)

    # A user responds: Infobip forwards to every HTTP_FORWARD action, and keeps it for pull when the
    # application has a PULL action (or no action at all, so pulling works without any setup).

    def receive(self, result: dict[str, Any]) -> None:
        world = self.world
        world.counters.generated += 1
        if "messageId" in result:
            world.generated_ids.append(str(result["messageId"]))
        app = world.applications.get(str(result.get("applicationCode") or result.get("to")))
        actions = list(app.actions.values()) if app else []
        forwards = [a for a in actions if a["type"] == "HTTP_FORWARD"]
        pulls = [a for a in actions if a["type"] == "PULL"]
        for action in forwards:
            self.forwarder.deliver(result, action)
        if not pulls:
            # As at Infobip: without a PULL action nothing is kept to be pulled (a setup without one receives
            # nothing in production, so it receives nothing here either).
            if not forwards:
                world.counters.not_kept += 1
            return
        message = dict(result)
        if pulls[0].get("callbackData") is not None:
            message["callbackData"] = pulls[0]["callbackData"]
        world.inbox.append(message)

    async def _generate(self) -> None:
        owed = 0.0
        while True:
            await asyncio.sleep(0.05)
            owed += self.options.generate_per_second * 0.05
            while owed >= 1:
                owed -= 1
                self.receive(self.generator.result())

    # Infobip's endpoints

    def api(self, handler: Handler, *, throttled: bool = True, pull: bool = False) -> Handler:
        """Auth, throttle and faults in front of an Infobip endpoint, in the order Infobip would apply them."""

        async def endpoint(request: Request) -> Response:
            world = self.world
            key = self._api_key(request)
            if key is None:
                world.counters.unauthorized += 1
                return infobip_error(401, "UNAUTHORIZED", "Invalid login details")
            world.requests.append(await _recorded(request))
            if throttled and not self.throttle.allow(key):
                world.counters.throttled += 1
                retry_after = world.faults.retry_after_seconds
                headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
                return infobip_error(429, "TOO_MANY_REQUESTS", "Too many requests", headers)
            if world.faults.error_burst > 0:
                world.faults.error_burst -= 1
                world.counters.injected_errors += 1
                return infobip_error(500, "GENERAL_ERROR", "Something went wrong. Please contact support.")
            if pull:
                world.pulls_in_flight += 1
                world.counters.max_concurrent_pulls = max(world.counters.max_concurrent_pulls, world.pulls_in_flight)
            try:
                if world.faults.slow_seconds > 0:
                    await asyncio.sleep(world.faults.slow_seconds)
                    if self.world is not world:
                        # Reset while it waited: a request of the old world never acts on the new one.
                        return infobip_error(503, "GENERAL_ERROR", "The simulator was reset meanwhile.")
                response = await handler(request)
            finally:
                if pull:
                    world.pulls_in_flight -= 1
            if world.faults.drop_next > 0:
                world.faults.drop_next -= 1
                world.counters.dropped += 1
                return _DroppedResponse(response.body)
            if world.faults.accept_then_502 > 0 and response.status_code < 300:
                world.faults.accept_then_502 -= 1
                world.counters.injected_errors += 1
                return Response(b"Bad Gateway", status_code=502, media_type="text/plain")
            return response

        return endpoint

    def _api_key(self, request: Request) -> str | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme != "App" or not key:
            return None
        for known in self.options.api_keys:
            if hmac.compare_digest(key.encode(), known.encode()):
                return known
        return None

    async def pull(self, request: Request) -> Response:
        raw = request.query_params.get("limit")
        if raw is None:
            limit = PULL_DEFAULT_LIMIT
        elif raw.isdigit() and int(raw) >= 1:
            limit = min(int(raw), PULL_MAX_LIMIT)
        else:
            return infobip_error(400, "BAD_REQUEST", "Bad request", validationErrors={"limit": ["invalid value"]})
        world = self.world
        world.counters.pull_requests += 1
        batch = [world.inbox.popleft() for _ in range(min(limit, len(world.inbox)))]
        world.counters.pulled += len(batch)
        return json_response(
            200, {"results": batch, "messageCount": len(batch), "pendingMessageCount": len(world.inbox)}
        )

    def _app(self, request: Request) -> Application | Response:
        app = self.world.applications.get(request.path_params["app"])
        if app is None:
            return infobip_error(404, "1", "Application does not exist")
        return app

    def _configured_app(self, request: Request) -> Application | Response:
        app = self._app(request)
        if isinstance(app, Application) and app.configuration != request.path_params["cfg"]:
            return infobip_error(404, "6", "Configuration does not exist")
        return app

    def _new_key(self) -> str:
        return f"{self._rng.getrandbits(64):016X}"

    async def list_configurations(self, request: Request) -> Response:
        app = self._app(request)
        if isinstance(app, Response):
            return app
        configurations = [{"key": app.configuration}] if app.configuration else []
        return json_response(200, {"configurations": configurations})

    async def create_configuration(self, request: Request) -> Response:
        app = self._app(request)
        if isinstance(app, Response):
            return app
        if app.configuration is not None:
            return infobip_error(409, "CONFLICT", "Configuration for this application already exists")
        app.configuration = self._new_key()
        return json_response(200, {"key": app.configuration})

    async def get_configuration(self, request: Request) -> Response:
        app = self._configured_app(request)
        if isinstance(app, Response):
            return app
        return json_response(200, {"key": app.configuration})

    async def delete_configuration(self, request: Request) -> Response:
        app = self._configured_app(request)
        if isinstance(app, Response):
            return app
        app.configuration = None
        app.actions.clear()
        return Response(status_code=204)

    async def list_actions(self, request: Request) -> Response:
        app = self._configured_app(request)
        if isinstance(app, Response):
            return app
        return json_response(200, {"actions": list(app.actions.values())})

    async def create_action(self, request: Request) -> Response:
        app = self._configured_app(request)
        if isinstance(app, Response):
            return app
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        problems = schemas.problems(schemas.ACTION, body)
        if problems:
            return infobip_error(400, "8", "Invalid action request", validationErrors=problems)
        assert isinstance(body, dict)
        action: dict[str, Any] = {"key": self._new_key(), "type": body["type"]}
        for name in ("forwardUrl", "callbackData"):
            if body.get(name) is not None:
                action[name] = body[name]
        app.actions[action["key"]] = action
        return json_response(200, action)

    async def delete_action(self, request: Request) -> Response:
        app = self._configured_app(request)
        if isinstance(app, Response):
            return app
        if app.actions.pop(request.path_params["action"], None) is None:
            return infobip_error(404, "5", "Action does not exist")
        return Response(status_code=204)

    # Admin endpoints (no auth: the simulator is for loopback use)

    async def counters(self, request: Request) -> Response:
        world = self.world
        extra = {
            "pending": len(world.inbox),
            "forward_in_flight": self.forwarder.in_flight,
            "responses_on_their_way": self.devices.responding,
            "replies_by_device": self.devices.replies_by_device(),
        }
        return json_response(200, {**world.counters.as_dict(), **extra})

    async def list_devices(self, request: Request) -> Response:
        return json_response(200, {"devices": [device.as_dict() for device in self.devices.known.values()]})

    async def state(self, request: Request) -> Response:
        return json_response(200, self.world.snapshot())

    async def faults(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                self.world.faults.update(orjson.loads(await request.body()))
            except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
                return json_response(400, {"error": str(exc)})
        return json_response(200, self.world.snapshot()["faults"])

    async def set_options(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
            if "requests_per_second" in body:
                self.options.requests_per_second = self.throttle.per_second = int(body["requests_per_second"])
            if "generate_per_second" in body:
                self.options.generate_per_second = max(0.0, float(body["generate_per_second"]))
            if "forward_retry_delays" in body:
                self.options.forward_retry_delays = [max(0.0, float(d)) for d in body["forward_retry_delays"]]
            if "respond_share" in body:
                self.options.respond_share = min(1.0, max(0.0, float(body["respond_share"])))
            if "respond_delay_seconds" in body:
                self.options.respond_delay_seconds = max(0.0, float(body["respond_delay_seconds"]))
        except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
            return json_response(400, {"error": str(exc)})
        options = self.options
        return json_response(
            200,
            {
                "requests_per_second": options.requests_per_second,
                "generate_per_second": options.generate_per_second,
                "forward_retry_delays": options.forward_retry_delays,
                "respond_share": options.respond_share,
                "respond_delay_seconds": options.respond_delay_seconds,
            },
        )

    async def messages(self, request: Request) -> Response:
        if request.method == "GET":
            return json_response(200, {"message_ids": self.world.generated_ids})
        try:
            body = orjson.loads(await request.body())
            injected = [self.generator.result(**dict(overrides)) for overrides in body.get("messages") or []]
            app = {"applicationCode": body["application_code"]} if body.get("application_code") else {}
            injected += [self.generator.result(**app) for _ in range(int(body.get("generate") or 0))]
            injected += [self.generator.odd(i, **app) for i in range(int(body.get("odd") or 0))]
        except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
            return json_response(400, {"error": str(exc)})
        for result in injected:
            self.receive(result)
        return json_response(200, {"message_ids": [r["messageId"] for r in injected if "messageId" in r]})

    async def pushes(self, request: Request) -> Response:
        return json_response(200, {"pushes": self.world.sent_pushes})

    async def requests(self, request: Request) -> Response:
        """Admin: the last Infobip API requests, as they came (method, path, query, JSON body)."""
        return json_response(200, {"requests": list(self.world.requests)})

    async def reset(self, request: Request) -> Response:
        await self.forwarder.stop()
        await self.devices.stop()
        self.world = World(self.options)
        self.devices = self._new_devices()
        self.throttle = Throttle(self.options.requests_per_second)
        self.forwarder = Forwarder(self.world, self._rng)
        await self.forwarder.start()
        return json_response(200, {"reset": True})

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.forwarder.start()
        self._generating = asyncio.get_running_loop().create_task(self._generate())
        try:
            yield
        finally:
            self._generating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._generating
            await self.devices.stop()
            await self.forwarder.stop()


async def _recorded(request: Request) -> dict[str, Any]:
    raw = await request.body()  # Starlette keeps it: the endpoint reads it again
    try:
        body: Any = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = raw.decode("utf-8", "replace")
    return {"method": request.method, "path": request.url.path, "query": request.url.query, "body": body}


def create_app(options: Options | None = None) -> Starlette:
    sim = Simulator(options or Options())
    api = sim.api
    send = sim.sending
    routes = [
        Route("/push/1/inbox/reports", api(sim.pull, pull=True), methods=["GET"]),
        Route(APP, api(sim.list_configurations), methods=["GET"]),
        Route(APP, api(sim.create_configuration), methods=["POST"]),
        Route(APP + "/{cfg}", api(sim.get_configuration), methods=["GET"]),
        Route(APP + "/{cfg}", api(sim.delete_configuration), methods=["DELETE"]),
        Route(APP + "/{cfg}/actions", api(sim.list_actions), methods=["GET"]),
        Route(APP + "/{cfg}/actions", api(sim.create_action), methods=["POST"]),
        Route(APP + "/{cfg}/actions/{action}", api(sim.delete_action), methods=["DELETE"]),
        # Send-push and the reports have their own, much higher limit (2500/s): not throttled here. The OMNI
        # limits are not in the API facts: not throttled either.
        Route("/push/3/messages", api(send.send_push, throttled=False), methods=["POST"]),
        Route("/push/1/statistics", api(send.statistics), methods=["GET"]),
        Route("/push/1/reports", api(send.push_reports, throttled=False), methods=["GET"]),
        Route("/push/3/reports", api(send.push_reports, throttled=False), methods=["GET"]),
        Route("/omni/1/scenarios", api(send.list_scenarios, throttled=False), methods=["GET"]),
        Route("/omni/1/scenarios", api(send.create_scenario, throttled=False), methods=["POST"]),
        Route("/omni/1/advanced", api(send.send_omni, throttled=False), methods=["POST"]),
        Route("/omni/1/reports", api(send.omni_reports, throttled=False), methods=["GET"]),
        Route("/_sim/counters", sim.counters, methods=["GET"]),
        Route("/_sim/state", sim.state, methods=["GET"]),
        Route("/_sim/faults", sim.faults, methods=["GET", "PUT"]),
        Route("/_sim/options", sim.set_options, methods=["PUT"]),
        Route("/_sim/messages", sim.messages, methods=["GET", "POST"]),
        Route("/_sim/pushes", sim.pushes, methods=["GET"]),
        Route("/_sim/requests", sim.requests, methods=["GET"]),
        Route("/_sim/devices", sim.list_devices, methods=["GET"]),
        Route("/_sim/seen", send.seen, methods=["POST"]),
        Route("/_sim/reset", sim.reset, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=sim.lifespan)
    app.state.simulator = sim
    return app
