using TinyMlops.Firmware.Core.Features;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Wire;

namespace TinyMlops.Firmware.Core.Node
{
    /// <summary>
    /// The one budget check for a board/model pair, used by training, by <c>detect</c> and by the node itself before
    /// it runs a model: the whole per-window cost on the interpreter (capture of N samples, features, the model, and
    /// the encoding of an event, counted for every window since a fault makes every window suspicious) against the
    /// window period, and the RAM of the whole pipeline (capture buffers, feature tables, event and its frames, and
    /// the model as <see cref="Int8Model.RamBytes"/> counts it) against the board's grants.
    /// Costs are in MAC units: one iteration of a plain int8 multiply-accumulate loop on the interpreter; the
    /// coefficients below are fitted to <c>tinymlops bench-interp</c> (rounded up) and a board's
    /// <c>interpreter.macNanoseconds</c> turns them into time (docs/interpreter-cost.md).
    /// </summary>
    public sealed class PipelineBudget
    {
        /// <summary>Design target: the per-window compute may take at most this share of a window period.</summary>
        public const float MaxComputeShare = 0.25f;

        /// <summary>MAC units per 3-axis sample for <see cref="WindowCapture.Add"/>.</summary>
        public const int CapturePerSample = 4;

        /// <summary>Quarter MAC units per sample of the feature path, constant part (passes over the samples, split, bands).</summary>
        public const int FeatureQuartersPerSample = 90;

        /// <summary>Quarter MAC units per sample of the feature path for each doubling of the window (the FFT's stages).</summary>
        public const int FeatureQuartersPerSampleStage = 5;

        /// <summary>MAC units per 2 model MACs (the interpreter's layers cost 1.5 plain MAC iterations per MAC).</summary>
        public const int ModelPerTwoMacs = 3;

        /// <summary>MAC units per inference besides its MACs (quantising the input, requantising, the score).</summary>
        public const int ModelPerInference = 600;

        /// <summary>MAC units per sample of an event (quantising to int16, writing, CRC).</summary>
        public const int EncodePerSample = 21;

        /// <summary>MAC units per event besides its samples.</summary>
        public const int EncodePerEvent = 500;

        /// <summary>MAC units per feature to turn a window into its healthy-baseline inputs, without smoothing.</summary>
        public const int NormalisePerFeature = 5;

        /// <summary>MAC units per feature for each further window the baseline inputs are averaged over.</summary>
        public const int NormalisePerFeatureWindow = 1;

        private readonly int _n;
        private readonly int _bands;
        private readonly int _rate;
        private readonly int _macNanoseconds;
        private readonly int _modelRamLimit;
        private readonly int _pipelineRamLimit;
        private readonly int _baselineSmoothing;

        /// <summary>
        /// A budget for windows of <paramref name="windowLength"/> samples with <paramref name="bands"/> bands at
        /// <paramref name="sampleRateHz"/>, on a board whose interpreter takes <paramref name="macNanoseconds"/> per MAC
        /// unit and grants <paramref name="modelRamLimit"/> bytes to the model and <paramref name="pipelineRamLimit"/>
        /// to the whole pipeline (model included); 0 for a limit means none.
        /// </summary>
        public PipelineBudget(int windowLength, int bands, int sampleRateHz, int macNanoseconds, int modelRamLimit, int pipelineRamLimit)
            : this(windowLength, bands, sampleRateHz, macNanoseconds, modelRamLimit, pipelineRamLimit, 0)
        {
        }

        /// <summary>
        /// The same for a node that keeps a healthy baseline smoothed over <paramref name="baselineSmoothing"/> windows
        /// (0: none), whose buffers and larger events count against the pipeline's RAM.
        /// </summary>
        public PipelineBudget(int windowLength, int bands, int sampleRateHz, int macNanoseconds, int modelRamLimit, int pipelineRamLimit, int baselineSmoothing)
        {
            if (windowLength < 16 || bands < 1 || sampleRateHz < 1 || macNanoseconds < 0 || modelRamLimit < 0 || pipelineRamLimit < 0)
            {
                throw new System.ArgumentException("window, bands and rate must be positive and limits not negative");
            }

            _n = windowLength;
            _bands = bands;
            _rate = sampleRateHz;
            _macNanoseconds = macNanoseconds;
            _modelRamLimit = modelRamLimit;
            _pipelineRamLimit = pipelineRamLimit;
            _baselineSmoothing = baselineSmoothing;
        }

        /// <summary>MAC units to capture one window.</summary>
        public static long CaptureUnits(int windowLength)
        {
            return (long)CapturePerSample * windowLength;
        }

        /// <summary>MAC units of the feature path for one window.</summary>
        public static long FeatureUnits(int windowLength)
        {
            int stages = 0;
            while ((1 << stages) < windowLength)
            {
                stages++;
            }

            return ((long)windowLength * (FeatureQuartersPerSample + (FeatureQuartersPerSampleStage * stages))) / 4;
        }

        /// <summary>MAC units of one inference of a model with <paramref name="macs"/> MACs.</summary>
        public static long ModelUnits(long macs)
        {
            return ModelPerInference + ((ModelPerTwoMacs * macs) / 2);
        }

        /// <summary>MAC units to build and encode one event.</summary>
        public static long EncodeUnits(int windowLength)
        {
            return EncodePerEvent + ((long)EncodePerSample * windowLength);
        }

        /// <summary>
        /// MAC units to turn <paramref name="features"/> features into healthy-baseline inputs averaged over
        /// <paramref name="smoothing"/> windows (0: the node keeps no baseline).
        /// </summary>
        public static long NormaliseUnits(int features, int smoothing)
        {
            return smoothing <= 0 ? 0 : (long)features * (NormalisePerFeature + (NormalisePerFeatureWindow * (smoothing - 1)));
        }

        /// <summary>Bytes the node's pipeline holds besides the model (capture, features, event and its frames).</summary>
        public static int PipelineBytes(int windowLength, int bands)
        {
            return PipelineBytes(windowLength, bands, 0);
        }

        /// <summary>
        /// The same with a healthy baseline smoothed over <paramref name="baselineSmoothing"/> windows (0: none): its
        /// mean, spread and scale, the smoothing history and the model input, and events that carry twice the features.
        /// </summary>
        public static int PipelineBytes(int windowLength, int bands, int baselineSmoothing)
        {
            int n = windowLength;
            int features = 3 * (FeatureExtractor.StatsPerAxis + bands);
            int inputs = baselineSmoothing > 0 ? 2 * features : features;
            int capture = 2 * 3 * 4 * n;
            int featureWork = FeatureExtractor.WorkingBytesFor(n, bands) + (4 * features);
            int baseline = baselineSmoothing > 0 ? 4 * ((3 + baselineSmoothing) * features + inputs) : 0;
            int eventMessage = (6 * n) + (4 * inputs);
            int frame = EventMessage.FrameSizeFor(inputs, n);
            return capture + featureWork + baseline + eventMessage + (NodeController.PendingEvents * frame);
        }

        /// <summary>The figures of a model with <paramref name="macs"/> MACs holding <paramref name="modelRamBytes"/> of RAM.</summary>
        public PipelineCost Estimate(long macs, int modelRamBytes)
        {
            PipelineCost c = new PipelineCost();
            c.CaptureUnits = CaptureUnits(_n);
            c.FeatureUnits = FeatureUnits(_n);
            c.ModelUnits = ModelUnits(macs);
            c.EncodeUnits = EncodeUnits(_n);
            c.NormaliseUnits = NormaliseUnits(3 * (FeatureExtractor.StatsPerAxis + _bands), _baselineSmoothing);
            c.TotalUnits = c.CaptureUnits + c.FeatureUnits + c.NormaliseUnits + c.ModelUnits + c.EncodeUnits;
            c.PeriodMicros = (1000000L * _n) / _rate;
            c.ComputeMicros = (c.TotalUnits * _macNanoseconds) / 1000;
            c.ModelRamBytes = modelRamBytes;
            c.ModelRamLimit = _modelRamLimit;
            c.PipelineRamBytes = PipelineBytes(_n, _bands, _baselineSmoothing) + modelRamBytes;
            c.PipelineRamLimit = _pipelineRamLimit;
            string problems = "";
            if (_macNanoseconds > 0 && c.ComputeMicros > c.PeriodMicros)
            {
                problems = Join(problems, "a window takes " + (c.ComputeMicros / 1000) + " ms of compute, its period is " + (c.PeriodMicros / 1000) + " ms: it cannot keep up ("
                    + Percent(c.ComputeMicros - c.PeriodMicros, c.PeriodMicros) + " % over)");
            }

            if (_modelRamLimit > 0 && modelRamBytes > _modelRamLimit)
            {
                problems = Join(problems, "the model needs " + modelRamBytes + " B of RAM, the board grants " + _modelRamLimit + " B (" + (modelRamBytes - _modelRamLimit) + " B over)");
            }

            if (_pipelineRamLimit > 0 && c.PipelineRamBytes > _pipelineRamLimit)
            {
                problems = Join(problems, "the pipeline needs " + c.PipelineRamBytes + " B of RAM with its model, the board grants " + _pipelineRamLimit + " B (" + (c.PipelineRamBytes - _pipelineRamLimit) + " B over)");
            }

            c.Problems = problems.Length == 0 ? null : problems;
            return c;
        }

        /// <summary>Why <paramref name="model"/> cannot run in this budget, or null when it can.</summary>
        public string? Refusal(Int8Model model)
        {
            return Estimate(model.Macs, model.RamBytes).Problems;
        }

        private static string Join(string a, string b)
        {
            return a.Length == 0 ? b : a + "; " + b;
        }

        private static long Percent(long part, long whole)
        {
            return whole <= 0 ? 0 : ((100 * part) + whole - 1) / whole;
        }
    }

    /// <summary>What <see cref="PipelineBudget.Estimate"/> found for one board/model pair.</summary>
    public sealed class PipelineCost
    {
        /// <summary>MAC units of capturing one window.</summary>
        public long CaptureUnits;

        /// <summary>MAC units of the features.</summary>
        public long FeatureUnits;

        /// <summary>MAC units of one inference.</summary>
        public long ModelUnits;

        /// <summary>MAC units of one event.</summary>
        public long EncodeUnits;

        /// <summary>MAC units of the healthy-baseline inputs (0 without a baseline).</summary>
        public long NormaliseUnits;

        /// <summary>All of the above.</summary>
        public long TotalUnits;

        /// <summary>The window period.</summary>
        public long PeriodMicros;

        /// <summary>Device time of <see cref="TotalUnits"/> (0 without an interpreter figure).</summary>
        public long ComputeMicros;

        /// <summary>RAM of the model.</summary>
        public int ModelRamBytes;

        /// <summary>The board's model RAM grant (0 = none given).</summary>
        public int ModelRamLimit;

        /// <summary>RAM of the whole pipeline with its model.</summary>
        public int PipelineRamBytes;

        /// <summary>The board's pipeline RAM grant (0 = none given).</summary>
        public int PipelineRamLimit;

        /// <summary>What does not fit, with by how much; null when everything fits.</summary>
        public string? Problems;

        /// <summary>Share of the window period the compute takes (0..).</summary>
        public float ComputeShare
        {
            get { return PeriodMicros <= 0 ? 0f : (float)ComputeMicros / PeriodMicros; }
        }
    }
}
