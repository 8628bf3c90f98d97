using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace TinyMlops.Trainer;

/// <summary>The figures people would rather see than read: ROC curves, the verifier's confusion matrix, score histograms.</summary>
public static class Plots
{
    /// <summary>ROC curves of several scorings of the same windows.</summary>
    public static void Roc(string path, IReadOnlyList<bool> positive, params (string Name, IReadOnlyList<double> Scores, double Auc)[] curves)
    {
        var plt = new ScottPlot.Plot();
        foreach ((string name, IReadOnlyList<double> scores, double auc) in curves)
        {
            (double[] fpr, double[] tpr) = RocPoints(scores, positive);
            var line = plt.Add.ScatterLine(fpr, tpr);
            line.LegendText = $"{name} (AUC {auc:F4})";
        }

        var diagonal = plt.Add.Line(0, 0, 1, 1);
        diagonal.LinePattern = ScottPlot.LinePattern.Dashed;
        plt.Title("Detector ROC on held-out windows");
        plt.XLabel("false-alarm rate");
        plt.YLabel("fault recall");
        plt.Axes.SetLimits(0, 1, 0, 1.02);
        plt.ShowLegend(ScottPlot.Alignment.LowerRight);
        Save(plt, path, 640, 480);
    }

    /// <summary>Histograms of detector scores for healthy and fault windows, with the threshold.</summary>
    public static void ScoreHistogram(string path, IReadOnlyList<double> scores, IReadOnlyList<bool> positive, double threshold, string title)
    {
        double[] logScores = scores.Select(s => Math.Log10(Math.Max(s, 1e-6))).ToArray();
        double lo = logScores.Min(), hi = Math.Max(logScores.Max(), lo + 1e-6);
        const int bins = 40;
        var plt = new ScottPlot.Plot();
        foreach ((bool fault, string name) in new[] { (false, "healthy"), (true, "fault") })
        {
            var counts = new double[bins];
            for (int i = 0; i < logScores.Length; i++)
            {
                if (positive[i] == fault)
                {
                    counts[Math.Min(bins - 1, (int)((logScores[i] - lo) / (hi - lo) * bins))]++;
                }
            }

            double[] centres = Enumerable.Range(0, bins).Select(b => lo + ((b + 0.5) * (hi - lo) / bins)).ToArray();
            var bars = plt.Add.Bars(centres, counts);
            bars.LegendText = name;
            foreach (ScottPlot.Bar bar in bars.Bars)
            {
                bar.Size = (hi - lo) / bins;
            }
        }

        var t = plt.Add.VerticalLine(Math.Log10(Math.Max(threshold, 1e-6)));
        t.LegendText = "threshold";
        plt.Title(title);
        plt.XLabel("log10 score");
        plt.YLabel("windows");
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        Save(plt, path, 640, 480);
    }

    /// <summary>A confusion matrix as a heat map with the counts written in.</summary>
    public static void Confusion(string path, string[] classes, int[][] confusion, string title)
    {
        int c = classes.Length;
        var data = new double[c, c];
        for (int i = 0; i < c; i++)
        {
            int total = Math.Max(1, confusion[i].Sum());
            for (int j = 0; j < c; j++)
            {
                data[i, j] = (double)confusion[i][j] / total; // ScottPlot draws row 0 at the top
            }
        }

        var plt = new ScottPlot.Plot();
        var heat = plt.Add.Heatmap(data);
        heat.Colormap = new ScottPlot.Colormaps.Viridis();
        for (int i = 0; i < c; i++)
        {
            for (int j = 0; j < c; j++)
            {
                var text = plt.Add.Text(confusion[i][j].ToString(System.Globalization.CultureInfo.InvariantCulture), j, c - 1 - i);
                text.LabelFontColor = data[i, j] > 0.5 ? ScottPlot.Colors.Black : ScottPlot.Colors.White;
                text.LabelAlignment = ScottPlot.Alignment.MiddleCenter;
            }
        }

        plt.Axes.Bottom.SetTicks(Enumerable.Range(0, c).Select(i => (double)i).ToArray(), classes);
        plt.Axes.Left.SetTicks(Enumerable.Range(0, c).Select(i => (double)(c - 1 - i)).ToArray(), classes);
        plt.Axes.Bottom.TickLabelStyle.Rotation = 45;
        plt.Axes.Bottom.MinimumSize = 110;
        plt.Axes.Bottom.TickLabelStyle.Alignment = ScottPlot.Alignment.MiddleLeft;
        plt.Title(title);
        plt.XLabel("predicted");
        plt.YLabel("truth");
        Save(plt, path, 720, 640);
    }

    /// <summary>Lines over a shared x axis (figures over time: latency quantiles, memory).</summary>
    public static void Series(string path, string title, string xLabel, string yLabel, params (string Name, double[] X, double[] Y)[] lines)
    {
        var plt = new ScottPlot.Plot();
        foreach ((string name, double[] x, double[] y) in lines)
        {
            var line = plt.Add.ScatterLine(x, y);
            line.LegendText = name;
        }

        plt.Title(title);
        plt.XLabel(xLabel);
        plt.YLabel(yLabel);
        plt.Axes.SetLimitsY(0, Math.Max(1, lines.SelectMany(l => l.Y).Where(double.IsFinite).DefaultIfEmpty(1).Max() * 1.1));
        plt.ShowLegend(ScottPlot.Alignment.UpperLeft);
        Save(plt, path, 720, 420);
    }

    /// <summary>(false-alarm rate, recall) points for every threshold.</summary>
    public static (double[] Fpr, double[] Tpr) RocPoints(IReadOnlyList<double> scores, IReadOnlyList<bool> positive)
    {
        int pos = positive.Count(p => p), neg = positive.Count - pos;
        var order = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ToArray();
        var fpr = new List<double> { 0 };
        var tpr = new List<double> { 0 };
        int tp = 0, fp = 0;
        for (int k = 0; k < order.Length; k++)
        {
            if (positive[order[k]])
            {
                tp++;
            }
            else
            {
                fp++;
            }

            if (k == order.Length - 1 || scores[order[k + 1]] != scores[order[k]])
            {
                fpr.Add(neg == 0 ? 0 : (double)fp / neg);
                tpr.Add(pos == 0 ? 0 : (double)tp / pos);
            }
        }

        return (fpr.ToArray(), tpr.ToArray());
    }

    private static void Save(ScottPlot.Plot plt, string path, int width, int height)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        plt.SavePng(path, width, height);
    }
}
