"""One PyKEEN run for bench/kge_vs_pykeen.py, in the benchmark venv (bench/.venv).

Reads a JSON job on argv[1], prints one JSON line: timings, peak RSS, filtered metrics.
Stdlib + PyKEEN only: kgagent is not installed in that venv.
"""

from __future__ import annotations

import json
import resource
import sys
import time

PYKEEN_MODELS = {
    "transe": "TransE",
    "distmult": "DistMult",
    "complex": "ComplEx",
    "rotate": "RotatE",
}
PYKEEN_LOSSES = {"margin": "marginranking", "nssa": "nssa", "softplus": "softplus"}


def main() -> None:
    job = json.loads(sys.argv[1])
    t_import = time.perf_counter()
    import torch
    from pykeen.pipeline import pipeline
    from pykeen.triples import TriplesFactory

    torch.set_num_threads(job["threads"])
    import_seconds = time.perf_counter() - t_import
    started = time.perf_counter()
    train = TriplesFactory.from_path(job["train"])
    kw = {"entity_to_id": train.entity_to_id, "relation_to_id": train.relation_to_id}
    valid = TriplesFactory.from_path(job["valid"], **kw)
    test = TriplesFactory.from_path(job["test"], **kw)
    loss_kwargs = {}
    if job["loss"] in ("margin", "nssa"):
        loss_kwargs["margin"] = job["margin"]
    if job["loss"] == "nssa":
        loss_kwargs["adversarial_temperature"] = job["adversarial_temperature"]
    model_kwargs = {"embedding_dim": job["dim"]}
    if job["model"] == "transe":
        model_kwargs["scoring_fct_norm"] = job.get("p", 1)
    result = pipeline(
        training=train,
        validation=valid,
        testing=test,
        model=PYKEEN_MODELS[job["model"]],
        model_kwargs=model_kwargs,
        loss=PYKEEN_LOSSES[job["loss"]],
        loss_kwargs=loss_kwargs,
        training_loop="slcwa",
        negative_sampler="basic",
        negative_sampler_kwargs={"num_negs_per_pos": job["negatives"]},
        optimizer=job["optimizer"],
        optimizer_kwargs={"lr": job["lr"]},
        training_kwargs={
            "num_epochs": job["epochs"],
            "batch_size": job["batch_size"],
            "use_tqdm": False,
            "use_tqdm_batch": False,
        },
        evaluator="rankbased",
        evaluation_kwargs={"use_tqdm": False},
        random_seed=job["seed"],
        use_testing_data=True,
        filter_validation_when_testing=True,
        device="cpu",
    )
    wall = time.perf_counter() - started
    get = result.metric_results.get_metric
    out = {
        "impl": "pykeen",
        "wall_seconds": wall,
        "train_seconds": result.train_seconds,
        "eval_seconds": result.evaluate_seconds,
        "import_seconds": import_seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "mrr": get("both.realistic.inverse_harmonic_mean_rank"),
        "hits_at_1": get("both.realistic.hits_at_1"),
        "hits_at_3": get("both.realistic.hits_at_3"),
        "hits_at_10": get("both.realistic.hits_at_10"),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
