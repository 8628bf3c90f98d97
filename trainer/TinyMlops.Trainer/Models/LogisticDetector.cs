using System;
using System.Collections.Generic;
using System.Linq;
using TinyMlops.Quantization;

namespace TinyMlops.Trainer.Models;

/// <summary>Logistic regression on standardised features (full-batch gradient descent, L2), as a one-layer detector.</summary>
public static class LogisticDetector
{
    /// <summary>Fits weights for P(fault) on <paramref name="x"/> with labels 0 (healthy) / 1 (fault).</summary>
    public static FloatDetector Fit(float[][] x, int[] y, int iterations = 3000, double rate = 0.5, double l2 = 1e-3)
    {
        FloatDetector probe = FloatDetector.FitStandardisation(x);
        float[][] z = x.Select(probe.Standardize).ToArray();
        int n = z[0].Length;
        var w = new double[n];
        double b = 0;
        for (int it = 0; it < iterations; it++)
        {
            var gw = new double[n];
            double gb = 0;
            for (int k = 0; k < z.Length; k++)
            {
                double logit = b;
                for (int i = 0; i < n; i++)
                {
                    logit += w[i] * z[k][i];
                }

                double err = (1 / (1 + Math.Exp(-logit))) - y[k];
                for (int i = 0; i < n; i++)
                {
                    gw[i] += err * z[k][i];
                }

                gb += err;
            }

            for (int i = 0; i < n; i++)
            {
                w[i] -= rate * ((gw[i] / z.Length) + (l2 * w[i]));
            }

            b -= rate * gb / z.Length;
        }

        return new FloatDetector
        {
            Mean = probe.Mean, Std = probe.Std, Head = DetectorHead.Direct, Threshold = 0.0,
            Layers = { new DenseLayer(new[] { w.Select(v => (float)v).ToArray() }, new[] { (float)b }, false) },
        };
    }

    /// <summary>
    /// The highest threshold that still flags at least <paramref name="recall"/> of <paramref name="faultScores"/>:
    /// a screening detector, whose false alarms the gateway's verifier is there to remove.
    /// </summary>
    public static double ThresholdForRecall(IEnumerable<double> faultScores, double recall)
    {
        double[] s = faultScores.OrderBy(v => v).ToArray();
        if (s.Length == 0)
        {
            throw new ArgumentException("no fault validation windows to choose a threshold on");
        }

        // Flagged means score > threshold: just below the score of the lowest window that must be flagged.
        int index = (int)Math.Floor((1 - recall) * s.Length);
        double v = s[Math.Clamp(index, 0, s.Length - 1)];
        return v - (Math.Abs(v) * 1e-6) - 1e-9;
    }
}
