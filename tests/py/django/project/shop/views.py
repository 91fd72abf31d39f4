"""Views deferring jobs inside the request's transaction."""

from django.db import transaction
from django.http import HttpRequest, JsonResponse

from procrastinate import exceptions

from .models import Order
from .tasks import ship_order


def create_order(request: HttpRequest) -> JsonResponse:
    """POST item=...: create an order and defer its shipping, atomically.
    fail=1: raise after deferring (nothing is kept). queueing_lock=x: when a
    job with that queueing lock waits already, the order is kept all the same
    (job_id null): the refused defer does not break the transaction."""
    with transaction.atomic():
        order = Order.objects.create(item=request.POST["item"])
        try:
            job_id = ship_order.configure(queueing_lock=request.POST.get("queueing_lock")).defer(
                order_id=order.id
            )
        except exceptions.AlreadyEnqueued:
            job_id = None
        if request.POST.get("fail"):
            raise RuntimeError("the order could not be created")
    return JsonResponse({"order_id": order.id, "job_id": job_id})


def order_detail(request: HttpRequest, order_id: int) -> JsonResponse:
    order = Order.objects.get(id=order_id)
    return JsonResponse({"id": order.id, "item": order.item, "status": order.status})
