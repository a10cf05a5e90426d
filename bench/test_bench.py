#!/usr/bin/python3
"""Self-test of bench/run.py and bench/report.py's choices, with no server: which scenarios and
targets a model gets follow from its traits alone (rows shaped like `iobound --list-modes=json`,
named so that no name can match a real model), and the queue-wait bucket is read right.
Run: /usr/bin/python3 bench/test_bench.py"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402
import run  # noqa: E402


def row(name, wait_thread, stalls, lanes, per_conn=0, max_waits=0, **extra):
    return dict(name=name, wait_costs_thread=wait_thread, cpu_stalls_others=stalls,
                cpu_lanes=lanes, threads_at_rest=1, threads_per_conn=per_conn,
                max_waits=max_waits, **extra)


TABLE = [
    row("m_loop", False, True, 1),
    row("m_thread", True, False, 0, per_conn=1),
    row("m_queue", True, False, 6, max_waits=6),
    row("m_loops", False, True, 2),
    row("m_offload", False, False, 2),
    row("m_fiber", False, True, 1, wait_costs_fiber=True),
]


def target_keys(name, cores=2):
    model = next(m for m in TABLE if m["name"] == name)
    base = report.baselines(TABLE)
    return {(sc, field, op, goal) for _, sc, field, op, goal in
            report.goals(model, 0.9, base, cores)}


class Choices(unittest.TestCase):
    def test_baselines_by_traits(self):
        self.assertEqual(report.baselines(TABLE), {"single": "m_loop", "threaded": "m_thread"})

    def test_queued_model_gets_the_pool_targets_and_httpbin_its_workers(self):
        keys = target_keys("m_queue")
        self.assertIn(("pool_c1000", "rps_vs_k", "within", 0.15), keys)
        self.assertIn(("pool_c1000", "socket_errors", "<=", 0), keys)
        self.assertEqual(report.sync_workers(TABLE), 6)
        pool = next(s for s in run.scenarios(True, TABLE) if s.key == "pool_c1000")
        self.assertEqual(pool.servers, ("m_queue", "httpbin"))
        self.assertGreater(pool.wrk_timeout_s, 1000 / 6 * 0.1)  # the queue wait is no error

    def test_loops_get_nginx2_and_lanes_times_the_single_loop(self):
        keys = target_keys("m_loops")
        self.assertIn(("hello_c256_2cores", "rps_vs_nginx2", ">=", 1.0), keys)
        self.assertIn(("cpu_c16_2cores", "rps_vs_single", ">=", 1.8), keys)
        self.assertIn(("cpu_c16_2cores", "rps_vs_single", ">=", 0.9),
                      target_keys("m_loops", cores=1))

    def test_offload_gets_threaded_cpu_and_the_probe(self):
        keys = target_keys("m_offload")
        self.assertIn(("cpu_c16_2cores", "rps_vs_threaded", ">=", 0.9), keys)
        self.assertIn(("cpu_c16_2cores", "probe_p99_ms", "<=", 20.0), keys)

    def test_others_get_none_of_those(self):
        for name in ("m_loop", "m_thread", "m_queue", "m_fiber"):
            fields = {k[1] for k in target_keys(name)}
            self.assertFalse(fields & {"rps_vs_nginx2", "rps_vs_single", "rps_vs_threaded"},
                             name)
        for name in ("m_loop", "m_thread", "m_loops", "m_offload"):
            self.assertNotIn("rps_vs_k", {k[1] for k in target_keys(name)}, name)

    def test_a_wait_without_a_thread_gets_the_cpu_goal_against_nginx(self):
        for name in ("m_loop", "m_loops", "m_offload", "m_fiber"):
            keys = target_keys(name)
            for sc in ("hello_c64", "sleep_c5000"):
                self.assertIn((sc, "cpu_vs_nginx", "<=", 0.9), keys, name)
        for name in ("m_thread", "m_queue"):
            self.assertNotIn("cpu_vs_nginx", {k[1] for k in target_keys(name)}, name)

    def test_a_stack_per_connection_gets_the_stack_rss_target(self):
        rss = {name: next(k[3] for k in target_keys(name) if k[1] == "rss_per_conn_kib")
               for name in ("m_thread", "m_fiber", "m_loop")}
        self.assertEqual(rss, {"m_thread": 16.0, "m_fiber": 16.0, "m_loop": 4.0})

    def test_every_model_in_every_model_scenario(self):
        names = tuple(m["name"] for m in TABLE)
        for sc in run.scenarios(True, TABLE):
            if sc.kind in ("hello", "cpu"):
                self.assertEqual(sc.servers[:len(names)], names, sc.key)


class Charts(unittest.TestCase):
    def test_cpu_left_off_where_the_load_was_not_served(self):
        served = {"efficiency": 0.4, "cpu_us_per_req": 51.0, "rss_load_kib": 5.0}
        refused = {"efficiency": 0.001, "cpu_us_per_req": 405.0, "rss_load_kib": 5.0}
        self.assertEqual(report.chart_value(served, "cpu_us_per_req"), 51.0)  # saturated: kept
        self.assertNotEqual(report.chart_value(refused, "cpu_us_per_req"),
                            report.chart_value(refused, "cpu_us_per_req"))  # nan: a gap
        self.assertEqual(report.chart_value(refused, "rss_load_kib"), 5.0)


class Buckets(unittest.TestCase):
    BEFORE = [(1.0, 0), (10.0, 0), (30.0, 0), (float("inf"), 0)]

    def test_p99_bucket(self):
        after = [(1.0, 10), (10.0, 80), (30.0, 100), (float("inf"), 100)]
        self.assertEqual(run.histogram_bucket(0.99, self.BEFORE, after), (10.0, 30.0))
        self.assertEqual(run.histogram_bucket(0.5, self.BEFORE, after), (1.0, 10.0))
        # A rank equal to a bucket's cumulative count is in that bucket (le: at most).
        self.assertEqual(run.histogram_bucket(0.8, self.BEFORE, after), (1.0, 10.0))

    def test_past_the_last_bound_and_empty(self):
        after = [(1.0, 0), (10.0, 0), (30.0, 0), (float("inf"), 5)]
        self.assertEqual(run.histogram_bucket(0.99, self.BEFORE, after), (30.0, float("inf")))
        lo, hi = run.histogram_bucket(0.99, self.BEFORE, self.BEFORE)
        self.assertNotEqual(lo, lo)  # nan: no observation between the scrapes


if __name__ == "__main__":
    unittest.main()
