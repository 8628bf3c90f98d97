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
        private int _count;

        /// <summary>A pipeline for windows of <paramref name="windowLength"/> samples at <paramref name="sampleRateHz"/>.</summary>
        public DetectionPipeline(int windowLength, int bands, int sampleRateHz, IFloatMath math)
        {
            _features = new FeatureExtractor(windowLength, bands, math);
            _n = windowLength;
            _featureVector = new float[_features.FeatureCount];
            _sampleRateHz = sampleRateHz;
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
            if (model == null || model.Header.InputLength != _featureVector.Length)
            {
                Dropped++;
                return ResultNoModel;
            }

            if (_features.Compute(x, y, z, _featureVector) != FeatureExtractor.StatusOk)
            {
                Dropped++;
                return ResultBadSamples;
            }

            if (model.Invoke(_featureVector) != Int8Model.StatusOk)
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
            e.Features = new float[_featureVector.Length];
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
            e.Features = new float[_featureVector.Length];
            e.Samples = new short[3 * _n];
            e.Axes = 3;
            e.SampleRateHz = _sampleRateHz;
            e.WindowLength = _n;
            return e;
        }

        /// <summary>
        /// Fills <paramref name="e"/> (from <see cref="NewEvent"/>) with the window just evaluated as suspicious,
        /// allocating nothing.
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
            System.Array.Copy(_featureVector, 0, e.Features, 0, _featureVector.Length);
            if (_wx == null || _wy == null || _wz == null)
            {
                throw new System.InvalidOperationException("no window has been evaluated");
            }

            e.SampleScale = WireCodec.QuantizeSamples(_wx, _wy, _wz, e.Samples);
        }
    }
}
