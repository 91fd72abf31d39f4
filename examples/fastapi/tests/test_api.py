from fastapi.testclient import TestClient

from fastapi_example.api import api
from procrastinate.testing import run_deferred_jobs


def test_a_sum_is_deferred_then_run_by_a_worker(procrastinate_app):
    with TestClient(api) as client:  # runs the lifespan: the app is opened
        response = client.post("/sums", json={"a": 1, "b": 2})
        assert response.status_code == 202
        job_id = response.json()["job_id"]
        assert client.get(f"/jobs/{job_id}").json() == {"job_id": job_id, "status": "todo"}

        # A real worker runs the job, on the same throwaway database.
        (outcome,) = run_deferred_jobs(procrastinate_app)
        assert (outcome.id, outcome.task_name, outcome.result) == (
            job_id,
            "fastapi_example.tasks.add",
            3,
        )

        assert client.get(f"/jobs/{job_id}").json()["status"] == "succeeded"


def test_unknown_job(procrastinate_app):
    with TestClient(api) as client:
        assert client.get("/jobs/42").status_code == 404
