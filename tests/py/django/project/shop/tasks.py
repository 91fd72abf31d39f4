"""Tasks of the shop app, found by the procrastinate app's autodiscovery."""

from procrastinate.contrib.django import app

from .models import Order


@app.task(queue="orders")
def ship_order(order_id: int) -> str:
    """Marks the order shipped, through the ORM (in the worker's thread)."""
    Order.objects.filter(id=order_id).update(status="shipped")
    return f"shipped {order_id}"


@app.task
async def ship_order_async(order_id: int) -> None:
    await Order.objects.filter(id=order_id).aupdate(status="shipped async")


@app.task(name="shop.fail")
def fail(message: str) -> None:
    raise ValueError(message)
