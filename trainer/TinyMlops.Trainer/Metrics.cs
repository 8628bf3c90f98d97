using System;
using System.Collections.Generic;
using System.Linq;

namespace TinyMlops.Trainer;

/// <summary>Binary detection figures at a threshold, plus ROC-AUC.</summary>
public sealed record BinaryMetrics(double RocAuc, double Precision, double Recall, double F1, double FalseAlarmRate, int TruePositives, int FalsePositives, int TrueNegatives, int FalseNegatives);

/// <summary>Multiclass figures.</summary>
public sealed record MulticlassMetrics(double MacroF1, double Accuracy, string[] Classes, int[][] Confusion, ClassMetrics[] PerClass);

/// <summary>One class's figures; Support 0 means the class is absent from the evaluated windows.</summary>
public sealed record ClassMetrics(string Class, int Support, double Precision, double Recall, double F1);

/// <summary>Evaluation metrics (no dependencies, so the trainer and the tests compute them the same way).</summary>
public static class Metrics
{
    /// <summary>ROC-AUC by the Mann-Whitney statistic, ties counted half.</summary>
    public static double RocAuc(IReadOnlyList<double> scores, IReadOnlyList<bool> positive)
    {
        var order = Enumerable.Range(0, scores.Count).OrderBy(i => scores[i]).ToArray();
        double rankSum = 0;
        int pos = 0;
        for (int i = 0; i < order.Length;)
        {
            int j = i;
            while (j + 1 < order.Length && scores[order[j + 1]] == scores[order[i]])
            {
                j++;
            }

            double rank = (i + j + 2) / 2.0; // average 1-based rank of the tie block
            for (int k = i; k <= j; k++)
            {
                if (positive[order[k]])
                {
                    rankSum += rank;
                    pos++;
                }
            }

            i = j + 1;
        }

        int neg = scores.Count - pos;
        if (pos == 0 || neg == 0)
        {
            return double.NaN;
        }

        return (rankSum - (pos * (pos + 1) / 2.0)) / ((double)pos * neg);
    }

    /// <summary>Figures for decisions <paramref name="flagged"/> against truth <paramref name="positive"/>.</summary>
    public static BinaryMetrics Binary(IReadOnlyList<double> scores, IReadOnlyList<bool> flagged, IReadOnlyList<bool> positive)
    {
        int tp = 0, fp = 0, tn = 0, fn = 0;
        for (int i = 0; i < flagged.Count; i++)
        {
            if (flagged[i])
            {
                if (positive[i])
                {
                    tp++;
                }
                else
                {
                    fp++;
                }
            }
            else if (positive[i])
            {
                fn++;
            }
            else
            {
                tn++;
            }
        }

        double precision = tp + fp == 0 ? 0 : (double)tp / (tp + fp);
        double recall = tp + fn == 0 ? 0 : (double)tp / (tp + fn);
        double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
        double far = fp + tn == 0 ? 0 : (double)fp / (fp + tn);
        return new BinaryMetrics(RocAuc(scores, positive), precision, recall, f1, far, tp, fp, tn, fn);
    }

    /// <summary>
    /// Macro-F1, accuracy and confusion matrix (rows = truth, columns = prediction). Windows whose truth is −1 (a class
    /// the model does not know) are left out.
    /// </summary>
    public static MulticlassMetrics Multiclass(IReadOnlyList<int> truth, IReadOnlyList<int> predicted, string[] classes)
    {
        int c = classes.Length;
        int[][] m = Enumerable.Range(0, c).Select(_ => new int[c]).ToArray();
        int counted = 0;
        for (int i = 0; i < truth.Count; i++)
        {
            if (truth[i] >= 0)
            {
                m[truth[i]][predicted[i]]++;
                counted++;
            }
        }

        var f1s = new List<double>();
        var perClass = new ClassMetrics[c];
        for (int k = 0; k < c; k++)
        {
            int tp = m[k][k];
            int support = m[k].Sum();
            int predictedK = m.Sum(row => row[k]);
            double p = predictedK == 0 ? 0 : (double)tp / predictedK;
            double r = support == 0 ? 0 : (double)tp / support;
            double f1 = p + r == 0 ? 0 : 2 * p * r / (p + r);
            perClass[k] = new ClassMetrics(classes[k], support, p, r, f1);
            if (support > 0)
            {
                f1s.Add(f1); // a class absent from the test split does not count toward the macro average
            }
        }

        double accuracy = counted == 0 ? 0 : (double)Enumerable.Range(0, c).Sum(k => m[k][k]) / counted;
        return new MulticlassMetrics(f1s.Count == 0 ? 0 : f1s.Average(), accuracy, classes, m, perClass);
    }
}
