using TinyMlops.Firmware.Core.Features;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Wire;

namespace TinyMlops.Firmware.Core.Node
{
    /// <summary>
    /// What a node does with its samples: fill a window, compute the features, run the int8 detector, and turn a
    /// window above the threshold into an event for the gateway. Buffers are allocated once; a window that is not
    /// suspicious allocates nothing. Not thread-safe: the sampling thread owns it.
    /// </summary>
    public sealed class DetectionPipeline
    {
        /// <summary>Window evaluated, below threshold.</summary>
        public const int ResultNormal = 0;

        /// <summary>Window evaluated, above threshold: build and send an event.</summary>
        public const int ResultSuspicious = 1;

        /// <summary>Window dropped: a sample was NaN or infinite.</summary>
        public const int ResultBadSamples = 2;

        /// <summary>Window dropped: no model installed, or the model rejected the features.</summary>
        public const int ResultNoModel = 3;

        /// <summary>
        /// Window learned into the node's healthy baseline, not judged: the model takes baseline inputs and the
        /// baseline is not learned yet.
        /// </summary>
        public const int ResultLearning = 4;

        private readonly FeatureExtractor _features;
        private readonly int _n;
        private float[]? _x;   // own window, allocated on the first Add (a node with a WindowCapture never needs it)
        private float[]? _y;
        private float[]? _z;
        private float[]? _wx;
        private float[]? _wy;
        private float[]? _wz;
        private readonly float[] _featureVector;
        private readonly int _sampleRateHz;
        private readonly IFloatMath _math;
        private readonly HealthyBaseline? _baseline;
        private readonly float[]? _baselineInput;
        private float[] _input;
        private int _count;

        /// <summary>A pipeline for windows of <paramref name="windowLength"/> samples at <paramref name="sampleRateHz"/>.</summary>
        public DetectionPipeline(int windowLength, int bands, int sampleRateHz, IFloatMath math)
            : this(windowLength, bands, sampleRateHz, math, 0, 1)
        {
        }

        /// <summary>
        /// A pipeline that also learns the node's healthy baseline over its first <paramref name="baselineWindows"/>
        /// windows (0: none) and feeds a model that takes baseline inputs (<see cref="HealthyBaseline.InputLength"/>
        /// values) the deviations from it, averaged over <paramref name="smoothing"/> windows.
        /// </summary>
        public DetectionPipeline(int windowLength, int bands, int sampleRateHz, IFloatMath math, int baselineWindows, int smoothing)
        {
            _features = new FeatureExtractor(windowLength, bands, math);
            _n = windowLength;
            _featureVector = new float[_features.FeatureCount];
            _input = _featureVector;
            _sampleRateHz = sampleRateHz;
            _math = math;
            if (baselineWindows > 0)
            {
                _baseline = new HealthyBaseline(_featureVector.Length, baselineWindows, smoothing);
                _baselineInput = new float[_baseline.InputLength];
            }
        }

        /// <summary>The node's healthy baseline, or null when it keeps none.</summary>
        public HealthyBaseline? Baseline
        {
            get { return _baseline; }
        }

        /// <summary>Set when the window just evaluated completed the baseline: the owner stores it, then clears this.</summary>
        public bool BaselineCompleted;

        /// <summary>The longest model input this pipeline feeds: the features, or the baseline inputs.</summary>
        public int MaxInputLength
        {
            get { return _baseline == null ? _featureVector.Length : _baseline.InputLength; }
        }

        /// <summary>Features of the last evaluated window.</summary>
        public float[] Features
        {
            get { return _featureVector; }
        }

        /// <summary>Length of the feature vector a model for this pipeline must take.</summary>
        public int FeatureCount
        {
            get { return _features.FeatureCount; }
        }

        /// <summary>Windows evaluated since start.</summary>
        public uint Windows;

        /// <summary>Windows above threshold since start.</summary>
        public uint Suspicious;

        /// <summary>Windows dropped since start.</summary>
        public uint Dropped;

        /// <summary>Adds one sample; returns true when the window is full and <see cref="Evaluate"/> should run.</summary>
        public bool Add(float x, float y, float z)
        {
            if (_x == null || _y == null || _z == null)
            {
                _x = new float[_n];
                _y = new float[_n];
                _z = new float[_n];
            }

            _x[_count] = x;
            _y[_count] = y;
            _z[_count] = z;
            _count++;
            return _count == _n;
        }

        /// <summary>Evaluates the full window with <paramref name="model"/> and starts the next one.</summary>
        public int Evaluate(Int8Model? model)
        {
            _count = 0;
            if (_x == null || _y == null || _z == null)
            {
                Dropped++;
                return ResultBadSamples;
            }

            return Evaluate(model, _x, _y, _z);
        }

        /// <summary>
        /// Evaluates a window held elsewhere (a <see cref="WindowCapture"/> buffer, of this pipeline's length);
        /// <see cref="FillEvent"/> then reads its samples.
        /// </summary>
        public int Evaluate(Int8Model? model, float[] x, float[] y, float[] z)
        {
            _wx = x;
            _wy = y;
            _wz = z;
            HealthyBaseline? baseline = _baseline;
            if (model == null && (baseline == null || baseline.IsReady))
            {
                Dropped++;
                return ResultNoModel;
            }

            if (_features.Compute(x, y, z, _featureVector) != FeatureExtractor.StatusOk)
            {
                Dropped++;
                if (baseline != null)
                {
                    baseline.RestartSmoothing(); // the windows either side of a dropped one are not neighbours
                }

                return ResultBadSamples;
            }

            bool learning = false;
            if (baseline != null && !baseline.IsReady)
            {
                // Learned whatever model runs (or none): the baseline is ready when a model that needs it arrives.
                baseline.Learn(_featureVector, _math);
                BaselineCompleted = baseline.IsReady;
                learning = true;
            }

            int inputs = model == null ? -1 : model.Header.InputLength;
            if (baseline != null && inputs == baseline.InputLength)
            {
                if (learning)
                {
                    return ResultLearning;
                }

                baseline.Normalise(_featureVector, _baselineInput!);
                _input = _baselineInput!;
            }
            else if (inputs == _featureVector.Length)
            {
                _input = _featureVector;
            }
            else if (learning)
            {
                return ResultLearning; // learned, not dropped: no model for it yet, or one of another shape
            }
            else
            {
                Dropped++;
                return ResultNoModel;
            }

            if (model!.Invoke(_input) != Int8Model.StatusOk)
            {
                Dropped++;
                return ResultNoModel;
            }

            Windows++;
            if (model.IsAboveThreshold)
            {
                Suspicious++;
                return ResultSuspicious;
            }

            return ResultNormal;
        }

        /// <summary>The event for the window just evaluated as suspicious (samples as int16 counts).</summary>
        public EventMessage BuildEvent(Int8Model model, uint sequence, long timestampMs)
        {
            EventMessage e = new EventMessage();
            e.Features = new float[_input.Length];
            e.Samples = new short[3 * _n];
            FillEvent(e, model, sequence, timestampMs);
            return e;
        }

        /// <summary>
        /// An event message whose arrays fit this pipeline, to be filled by <see cref="FillEvent"/> again and again.
        /// </summary>
        public EventMessage NewEvent()
        {
            EventMessage e = new EventMessage();
            e.Features = new float[_input.Length];
            e.Samples = new short[3 * _n];
            e.Axes = 3;
            e.SampleRateHz = _sampleRateHz;
            e.WindowLength = _n;
            return e;
        }

        /// <summary>
        /// Fills <paramref name="e"/> (from <see cref="NewEvent"/>) with the window just evaluated as suspicious: its
        /// model input (the features, or the baseline inputs) and samples. Allocates nothing, unless the model input's
        /// length changed since <paramref name="e"/> was made (a model of the other kind was installed).
        /// </summary>
        public void FillEvent(EventMessage e, Int8Model model, uint sequence, long timestampMs)
        {
            e.Sequence = sequence;
            e.TimestampMs = timestampMs;
            e.ModelId = model.Header.ModelId;
            e.ModelVersion = model.Header.ModelVersion;
            e.Score = model.Score;
            e.Threshold = model.Header.Threshold;
            e.RealScore = model.RealScore;
            e.SampleRateHz = _sampleRateHz;
            e.WindowLength = _n;
            e.Axes = 3;
            if (e.Features == null || e.Features.Length != _input.Length)
            {
                e.Features = new float[_input.Length];
            }

            System.Array.Copy(_input, 0, e.Features, 0, _input.Length);
            if (_wx == null || _wy == null || _wz == null)
            {
                throw new System.InvalidOperationException("no window has been evaluated");
            }

            e.SampleScale = WireCodec.QuantizeSamples(_wx, _wy, _wz, e.Samples);
        }
    }
}
