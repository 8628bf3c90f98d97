using System;

namespace TinyMlops.Trainer.Data;

/// <summary>
/// Band-limited resampling to any rate: each output sample is a Blackman-windowed-sinc interpolation of the input
/// whose cutoff is 0.45 × the lower of the two rates, so downsampling is anti-aliased by the same kernel that
/// interpolates. DC gain is exactly 1 (the kernel is normalised per output sample).
/// </summary>
public static class Resampler
{
    /// <summary>Zero crossings of the sinc on each side of the kernel.</summary>
    public const int ZeroCrossings = 8;

    /// <summary>Cutoff as a fraction of the lower rate (below its Nyquist 0.5, leaving a transition band).</summary>
    public const double CutoffFraction = 0.45;

    /// <summary>Resamples <paramref name="x"/> from <paramref name="fromHz"/> to <paramref name="toHz"/>.</summary>
    public static float[] Resample(float[] x, double fromHz, double toHz)
    {
        if (!(fromHz > 0) || !(toHz > 0) || double.IsInfinity(fromHz) || double.IsInfinity(toHz))
        {
            throw new ArgumentOutOfRangeException(nameof(toHz), "sample rates must be finite and positive");
        }

        if (fromHz == toHz)
        {
            return (float[])x.Clone();
        }

        int n = (int)Math.Floor(x.Length * toHz / fromHz);
        var y = new float[n];
        double cutoff = CutoffFraction * Math.Min(fromHz, toHz) / fromHz;     // cycles per input sample
        double halfWidth = ZeroCrossings / (2 * cutoff);                      // input samples on each side
        double step = fromHz / toHz;
        for (int k = 0; k < n; k++)
        {
            double p = k * step;
            int lo = Math.Max(0, (int)Math.Ceiling(p - halfWidth));
            int hi = Math.Min(x.Length - 1, (int)Math.Floor(p + halfWidth));
            double sum = 0, weights = 0;
            for (int i = lo; i <= hi; i++)
            {
                double t = i - p;
                double w = Kernel(t, cutoff, halfWidth);
                sum += w * x[i];
                weights += w;
            }

            y[k] = (float)(weights != 0 ? sum / weights : 0);
        }

        return y;
    }

    private static double Kernel(double t, double cutoff, double halfWidth)
    {
        double a = 2 * Math.PI * cutoff * t;
        double sinc = Math.Abs(t) < 1e-12 ? 1 : Math.Sin(a) / a;
        double u = (t / halfWidth) + 1; // 0..2 across the window
        double blackman = 0.42 - (0.5 * Math.Cos(Math.PI * u)) + (0.08 * Math.Cos(2 * Math.PI * u));
        return sinc * blackman;
    }
}
