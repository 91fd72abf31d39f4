"""A FastAPI application deferring procrastinate jobs.

Serve it with ``uvicorn fastapi_example.api:api``. The lifespan opens the
procrastinate app (a connection pool on the application's event loop) for as
long as the application runs.
"""

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from procrastinate import exceptions

from .tasks import add, app


@contextlib.asynccontextmanager
async def lifespan(api: FastAPI) -> AsyncIterator[None]:
    async with app.open_async():
        yield


api = FastAPI(lifespan=lifespan)


class Sum(BaseModel):
    a: int
    b: int


@api.post("/sums", status_code=202)
async def create_sum(body: Sum) -> dict:
    job_id = await add.defer_async(a=body.a, b=body.b)
    return {"job_id": job_id}


@api.get("/jobs/{job_id}")
async def job_status(job_id: int) -> dict:
    try:
        status = await app.job_manager.get_job_status_async(job_id)
    except exceptions.JobNotFound:
        raise HTTPException(status_code=404, detail="no such job") from None
    return {"job_id": job_id, "status": status.value}
