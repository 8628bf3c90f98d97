using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using TinyMlops.Firmware.Core.Features;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Wire;
using TinyMlops.InterpBench.Baseline;

namespace TinyMlops.InterpBench
{
    /// <summary>
    /// Interpreted cost of one window of the node's pipeline, as multiples of one iteration of a plain int8
    /// multiply-accumulate loop timed in the same process. Meant for `mono --interp=-inline`, a proxy that ranks code
    /// shapes as nanoFramework's interpreter does; run under a JIT the ratios mean nothing. Arguments: one
    /// `name:windowLength:bands:sampleRateHz:modelFile` per profile, optional `--ms N` (time per measurement).
    /// Prints one `window` line per profile (parsed by `tinymlops bench-interp`) and the MAC loop's own cost.
    /// </summary>
    public static class Program
    {
        private const int MacLength = 4096;

        public static int Main(string[] args)
        {
            double ms = 300;
            var profiles = new List<string>();
            for (int i = 0; i < args.Length; i++)
            {
                if (args[i] == "--ms" && i + 1 < args.Length)
                {
                    ms = double.Parse(args[++i], CultureInfo.InvariantCulture);
                }
                else
                {
                    profiles.Add(args[i]);
                }
            }

            s_ms = ms;
            if (profiles.Count == 0)
            {
                Console.Error.WriteLine("usage: TinyMlops.InterpBench.exe [--ms N] name:windowLength:bands:sampleRateHz:modelFile ...");
                return 2;
            }

            var a = new sbyte[MacLength];
            var b = new sbyte[MacLength];
            uint seed = 1;
            for (int i = 0; i < MacLength; i++)
            {
                a[i] = (sbyte)(Next(ref seed) >> 24);
                b[i] = (sbyte)(Next(ref seed) >> 24);
            }

            int sink = 0;
            Action mac = () => { sink += MacLoop(a, b); };
            double macNs = Measure(mac, ms) / MacLength;
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "mac ns={0:F3} (one iteration of the int8 MAC loop; the unit below)", macNs));
            foreach (string p in profiles)
            {
                string[] f = p.Split(':');
                if (f.Length < 5)
                {
                    Console.Error.WriteLine("bad profile '" + p + "'");
                    return 2;
                }

                string modelPath = string.Join(":", f, 4, f.Length - 4);
                RunProfile(f[0], int.Parse(f[1], CultureInfo.InvariantCulture), int.Parse(f[2], CultureInfo.InvariantCulture), int.Parse(f[3], CultureInfo.InvariantCulture), File.ReadAllBytes(modelPath), mac);
            }

            return sink == int.MinValue ? 1 : 0;
        }

        private static void RunProfile(string name, int n, int bands, int rate, byte[] blob, Action mac)
        {
            Int8Model model = Int8Model.Load(blob, 0, 0);
            var pipeline = new DetectionPipeline(n, bands, rate, SystemFloatMath.Instance);
            var extractor = new FeatureExtractor(n, bands, SystemFloatMath.Instance);
            float[] x = new float[n], y = new float[n], z = new float[n];
            uint seed = 7;
            for (int i = 0; i < n; i++)
            {
                double t = (double)i / rate;
                x[i] = (float)(0.3 * Math.Sin(2 * Math.PI * 50 * t)) + Noise(ref seed);
                y[i] = (float)(0.1 * Math.Sin(2 * Math.PI * 120 * t)) + Noise(ref seed);
                z[i] = 1f + Noise(ref seed);
            }

            float[] features = new float[extractor.FeatureCount];
            var window = new WindowCapture(n);
            EventMessage e = pipeline.NewEvent();
            byte[] frame = new byte[WireCodec.MaxFrame];
            pipeline.Evaluate(model, x, y, z);

            double capture = Units(mac, () =>
            {
                for (int i = 0; i < n; i++)
                {
                    if (window.Add(x[i], y[i], z[i]))
                    {
                        window.Release(window.TakeReady());
                    }
                }
            });
            double feature = Units(mac, () => extractor.Compute(x, y, z, features));
            var fft = new TriaxialFft(n, SystemFloatMath.Instance);
            float[] spectrum = new float[(n / 2) + 1];
            double transform = Units(mac, () => fft.Transform());
            double power = Units(mac, () => { fft.Power(0, spectrum, true); fft.Power(1, spectrum, true); fft.Power(2, spectrum, true); });
            var before = new BaselineFeatureExtractor(n, bands, SystemFloatMath.Instance);
            float[] baselineFeatures = new float[features.Length];
            double baseline = Units(mac, () => before.Compute(x, y, z, baselineFeatures));
            double inference = Units(mac, () => model.Invoke(features));
            double encode = Units(mac, () =>
            {
                pipeline.FillEvent(e, model, 1, 0);
                WireCodec.EncodeInto(e, frame, 0);
            });

            // The node's healthy baseline (when its board keeps one): each window's inputs against it, at smoothings 1 and 5.
            double[] normalise = new double[2];
            int[] smoothings = { 1, 5 };
            for (int k = 0; k < smoothings.Length; k++)
            {
                var healthy = new HealthyBaseline(features.Length, 2, smoothings[k]);
                healthy.Learn(features, SystemFloatMath.Instance);
                healthy.Learn(baselineFeatures, SystemFloatMath.Instance);
                float[] inputs = new float[healthy.InputLength];
                normalise[k] = Units(mac, () => healthy.Normalise(features, inputs));
            }

            double quantize = Units(mac, () => WireCodec.QuantizeSamples(x, y, z, e.Samples));
            double crc = Units(mac, () => TinyMlops.Firmware.Core.Common.Crc32.Compute(frame, 0, WireCodec.FrameSize(e) - WireCodec.TrailerSize));

            // Every window pays capture, features and the model; an event is encoded for a suspicious one only, so it
            // is counted once per window as the worst case (every window suspicious).
            double total = capture + feature + inference + encode;
            Console.WriteLine(string.Format(
                CultureInfo.InvariantCulture,
                "window profile={0} n={1} bands={2} rate={3} macs={4} capture={5:F0} features={6:F0} model={7:F0} encode={8:F0} total={9:F0} baselineFeatures={10:F0} baselineTotal={11:F0} fftTransform={12:F0} fftPower={13:F0} quantize={14:F0} crc={15:F0} normalise1={16:F0} normalise5={17:F0}",
                name, n, bands, rate, model.Macs, capture, feature, inference, encode, total, baseline, total - feature + baseline, transform, power, quantize, crc, normalise[0], normalise[1]));
        }

        private static int MacLoop(sbyte[] a, sbyte[] b)
        {
            int acc = 0;
            int n = a.Length;
            for (int i = 0; i < n; i++)
            {
                acc += a[i] * b[i];
            }

            return acc;
        }

        /// <summary>
        /// Cost of <paramref name="part"/> in MAC-loop iterations: 5 rounds, each timing the MAC loop and then the part
        /// back to back (so drift in clock speed cancels), median of the 5 ratios.
        /// </summary>
        private static double Units(Action mac, Action part)
        {
            var ratios = new double[5];
            for (int r = 0; r < ratios.Length; r++)
            {
                double macNs = Measure(mac, s_ms / 5) / MacLength;
                ratios[r] = Measure(part, s_ms / 5) / macNs;
            }

            Array.Sort(ratios);
            return ratios[2];
        }

        private static double s_ms = 300;

        /// <summary>Median of 5 runs, each repeating <paramref name="action"/> for about <paramref name="ms"/>, in ns per call.</summary>
        private static double Measure(Action action, double ms)
        {
            action();
            var sw = Stopwatch.StartNew();
            int calls = 0;
            while (sw.Elapsed.TotalMilliseconds < ms / 10 || calls < 3)
            {
                action();
                calls++;
            }

            int per = Math.Max(3, (int)(calls * ms / sw.Elapsed.TotalMilliseconds));
            var runs = new double[5];
            for (int r = 0; r < runs.Length; r++)
            {
                sw.Restart();
                for (int i = 0; i < per; i++)
                {
                    action();
                }

                runs[r] = sw.Elapsed.TotalMilliseconds * 1e6 / per;
            }

            Array.Sort(runs);
            return runs[2];
        }

        private static uint Next(ref uint s)
        {
            s = (s * 1664525u) + 1013904223u;
            return s;
        }

        private static float Noise(ref uint s)
        {
            return ((Next(ref s) >> 8) / 16777216f - 0.5f) * 0.05f;
        }
    }
}
