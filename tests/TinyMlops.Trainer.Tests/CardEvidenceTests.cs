using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using TinyMlops.Trainer;
using TinyMlops.Trainer.Data;
using Xunit;

namespace TinyMlops.Trainer.Tests;

/// <summary>A model card must not look perfect on too little data (issue 9, point 13).</summary>
public class CardEvidenceTests
{
    // A synthetic machine: a shaft tone whose frequency is the group's speed; the fault adds a third harmonic.
    private static void Write(string dir, string file, string label, string? group, int speed, int seed)
    {
        var rng = new Random(seed);
        var lines = new List<string> { $"# tinymlops-recording sample_rate_hz=500 label={label}" + (group != null ? $" group={group}" : ""), "x,y,z" };
        for (int i = 0; i < 1500; i++)
        {
            double t = i / 500.0, w = 2 * Math.PI * speed * t;
            double x = (0.2 * Math.Sin(w)) + (label == "healthy" ? 0 : 0.15 * Math.Sin(3 * w)) + (0.02 * (rng.NextDouble() - 0.5));
            double y = (0.1 * Math.Cos(w)) + (0.02 * (rng.NextDouble() - 0.5));
            lines.Add(FormattableString.Invariant($"{x:F5},{y:F5},{1 + (0.01 * (rng.NextDouble() - 0.5)):F5}"));
        }

        File.WriteAllLines(Path.Combine(dir, file), lines);
    }

    private static TrainOptions Options(string data, string output, bool cv = false) =>
        new() { DataDirectory = data, Board = "esp32-c3", OutputDirectory = output, VerifierEpochs = 80, VerifierHidden = 8, CrossValidateGroups = cv };

    [Fact]
    public void A_test_split_without_healthy_windows_is_refused_saying_why()
    {
        string dir = Paths.Temp("no-healthy-test");
        Directory.CreateDirectory(dir);
        try
        {
            // Each file is its own group (no group= key), as a user's recordings often are; the ones the split
            // sends to test are all faults.
            string[] names = Enumerable.Range(1, 6).Select(i => $"rec{i}").ToArray();
            Dictionary<string, Split> split = FeatureTable.SplitGroups(names.Select(n => n + ".csv"), 42);
            int k = 0;
            foreach (string n in names)
            {
                string label = split[n + ".csv"] == Split.Test || k++ % 2 == 1 ? "imbalance" : "healthy";
                Write(dir, n + ".csv", label, null, 20 + k, k);
            }

            string output = Path.Combine(dir, "out");
            var e = Assert.Throws<InvalidDataException>(() => TrainingRun.Run(Options(dir, output)));
            Assert.Contains("test split", e.Message);
            Assert.Contains("no healthy window", e.Message);
            Assert.False(Directory.Exists(output));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Every_card_figure_carries_its_counts_and_an_interval_and_cv_and_eval_report_beside_the_single_split()
    {
        string dir = Paths.Temp("evidence");
        Directory.CreateDirectory(dir);
        try
        {
            for (int g = 0; g < 6; g++)
            {
                for (int r = 0; r < 2; r++)
                {
                    Write(dir, $"g{g}-h{r}.csv", "healthy", $"speed{g}", 18 + (3 * g), (g * 10) + r);
                    Write(dir, $"g{g}-f{r}.csv", "imbalance", $"speed{g}", 18 + (3 * g), (g * 10) + r + 5);
                }
            }

            string output = Path.Combine(dir, "out");
            ModelCard card = TrainingRun.Run(Options(dir, output, cv: true));
            int testWindows = card.Dataset.TestWindows;
            Assert.NotEmpty(card.Figures);
            foreach (CardFigure f in card.Figures)
            {
                Assert.InRange(f.Windows, 1, testWindows);
                Assert.InRange(f.Recordings, 1, 4 * card.Dataset.TestGroups.Length);
                Assert.True(double.IsNaN(f.Low) || (f.Low <= f.Value + 1e-9 && f.Value <= f.High + 1e-9), $"{f.Name}: {f.Value} outside [{f.Low}, {f.High}]");
            }

            CardFigure auc = Assert.Single(card.Figures, f => f.Name == "detector ROC-AUC (int8)");
            Assert.Equal(testWindows, auc.Windows);
            Assert.Contains(card.Figures, f => f.Name == "verifier macro-F1 (int8)");
            string markdown = File.ReadAllText(Path.Combine(output, "model-card.md"));
            Assert.Contains("95 % interval", markdown);
            Assert.Contains("bootstrap", markdown);

            // Leave one group out: a fold per group, and every window predicted by models that never saw its group.
            CrossValidationCard cv = Assert.IsType<CrossValidationCard>(card.CrossValidation);
            Assert.Equal(6, cv.Folds.Length);
            Assert.Equal(card.Dataset.Windows, cv.Folds.Sum(f => f.Windows));
            Assert.Equal(card.Dataset.Windows, Assert.Single(cv.Pooled, f => f.Name == "detector ROC-AUC (int8)").Windows);
            Assert.Equal(24, Assert.Single(cv.Pooled, f => f.Name == "detector ROC-AUC (int8)").Recordings);
            Assert.Contains("Cross-validation", markdown);

            // eval scores the int8 verifier as the card does, with the same figures.
            EvaluationResult eval = Evaluation.Run(output, dir);
            Assert.NotNull(eval.VerifierInt8);
            Assert.Contains(eval.Figures, f => f.Name == "verifier macro-F1 (int8)" && f.Recordings == 24);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
