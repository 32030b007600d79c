"""The peer: the benchmark's flow as an aiogram 3 bot, the framework the issue measured
(850 to 1,100 events/s on a machine like ours).

aiogram speaks Telegram's Bot API, not tyntec's: the load generator posts it Telegram
updates carrying the same texts, and the fake API answers its ``sendMessage`` calls as the
Bot API does. The flow is botkit's benchmark flow written as aiogram handlers and FSM states:
a greeting, a menu choice, an order number checked against a pattern (a wrong one, then a
right one), the order's status, and the greeting again (5 replies per 4 events, as botkit).

It runs as a user would run it, with the speed-ups the floor and botkit get too (uvloop,
and orjson through the session's ``json_loads``/``json_dumps``): one Bot and its pooled
aiohttp session, the webhook answered after its handler
(``handle_in_background=False``: the replies are posted by then, as the floor's is), and
the garbage collector set as the floor and botkit set it. Its FSM storage is aiogram's
MemoryStorage: state lives in the process and is lost with it; there is no inbox, no
outbox and no history.

Its dependencies clash with botkit's (aiogram pins pydantic below botkit's), so it runs from
a virtualenv of its own: see benchmarks/README.md. It shares the floor's set-up (floor.py
imports only aiohttp, and orjson and uvloop when installed).
"""

from __future__ import annotations

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from floor import dumps, loads, serve, settle_collector, subject_arguments

TOKEN = "42:bench"


class Order(StatesGroup):
    welcome = State()
    ask_order = State()


def greeting(message: Message) -> str:
    name = message.from_user.first_name if message.from_user else None
    return f"Hi {name or 'there'}! Reply 1 for your order status."


router = Router()


@router.message(StateFilter(None))
async def hello(message: Message, state: FSMContext) -> None:
    await state.set_state(Order.welcome)
    await message.answer(greeting(message))


@router.message(Order.welcome, F.text.in_({"1", "order"}))
async def menu(message: Message, state: FSMContext) -> None:
    await state.set_state(Order.ask_order)
    await message.answer("What's your order number? (6 digits)")


@router.message(Order.welcome)
async def menu_again(message: Message) -> None:
    await message.answer("Reply 1 for your order status.")


@router.message(Order.ask_order, F.text.regexp(r"^\d{6}$"))
async def order_status(message: Message, state: FSMContext) -> None:
    await state.update_data(order=message.text)
    await message.answer(f"Your order {message.text} is shipped.")
    await state.set_state(Order.welcome)
    await message.answer(greeting(message))


@router.message(Order.ask_order)
async def wrong_order_number(message: Message) -> None:
    await message.answer("Order numbers have 6 digits, like 123456.")


def app(api_url: str) -> web.Application:
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(api_url), json_loads=loads, json_dumps=dumps
    )
    bot = Bot(TOKEN, session=session)
    dispatcher = Dispatcher(storage=MemoryStorage())
    dispatcher.include_router(router)
    application = web.Application()
    SimpleRequestHandler(dispatcher, bot, handle_in_background=False).register(
        application, path="/webhook"
    )
    application.router.add_get("/ready", lambda request: web.Response(text="ok"))

    async def settle(app: web.Application) -> None:
        settle_collector()

    async def close(app: web.Application) -> None:
        await bot.session.close()

    application.on_startup.append(settle)
    application.on_cleanup.append(close)
    return application


if __name__ == "__main__":
    arguments = subject_arguments().parse_args()
    serve(app(arguments.api_url), arguments.port)
