"""Unit tests of the open-set protocol's pure parts: python3 -m unittest discover scripts/tests"""
import importlib.util
import os
import unittest

spec = importlib.util.spec_from_file_location("openset", os.path.join(os.path.dirname(__file__), "..", "detector_openset.py"))
openset = importlib.util.module_from_spec(spec)
spec.loader.exec_module(openset)


class OpenSetTests(unittest.TestCase):
    def test_partition_is_disjoint_and_covers_the_thirty_classes(self):
        seen, val, test = set(openset.SEEN), set(openset.VAL), set(openset.TEST)
        self.assertEqual(len(seen | val | test), 30)
        self.assertFalse(seen & val or seen & test or val & test)
        # The recording shared by clock_tick and clock_alarm stays on one side.
        self.assertTrue({"clock_tick", "clock_alarm"} <= test)

    def test_recording_follows_the_data_sets_file_names(self):
        self.assertEqual(openset.recording("1-100038-A.wav"), "1-100038")
        self.assertEqual(openset.recording("Louise_01.m4a_3.wav"), "Louise_01")
        self.assertEqual(openset.recording("laugh_1.m4a_12.wav"), "laugh_1")
        uid = "0c8f14a9-6999-485b-97a2-913c1cbf099c"
        self.assertEqual(openset.recording(uid + "-1430760394426-1.7-m-26-hu.wav"), uid)

    def test_split_groups_never_splits_a_group_and_keeps_rare_sources_in_training(self):
        parts = openset.split_groups({"g%d" % i for i in range(10)}, [0.6, 0.2, 0.2], 3)
        self.assertEqual(sorted(sum(parts, [])), sorted("g%d" % i for i in range(10)))
        self.assertEqual([len(p) for p in parts], [6, 2, 2])
        self.assertEqual(openset.split_groups({"a", "b"}, [0.6, 0.2, 0.2], 3), [["a", "b"], [], []])

    def test_auc_is_the_mann_whitney_probability_with_ties_halved(self):
        self.assertEqual(openset.auc([0.9, 0.8], [0.1, 0.2]), 1.0)
        self.assertEqual(openset.auc([0.1], [0.9]), 0.0)
        self.assertEqual(openset.auc([0.5], [0.5]), 0.5)
        # pairs: 0.3 beats 0.1; 0.7 beats 0.5 and 0.1 and ties 0.7: 3.5 of 6.
        self.assertAlmostEqual(openset.auc([0.3, 0.7], [0.5, 0.1, 0.7]), 3.5 / 6)

    def test_operating_point_is_the_fewest_unseen_false_alarms_at_the_recall_floor(self):
        val = {"thresholds": {
            "0.5": {"recall": 1.0, "fa_unseen_per_hour": 9},
            "0.9": {"recall": 0.96, "fa_unseen_per_hour": 4},
            "0.97": {"recall": 0.90, "fa_unseen_per_hour": 1}}}
        self.assertEqual(openset.operating_point(val), "0.9")
        # A median onset latency over 1 s rules a threshold out.
        val["thresholds"]["0.9"]["latency_median_s"] = 1.4
        self.assertEqual(openset.operating_point(val), "0.5")


if __name__ == "__main__":
    unittest.main()
