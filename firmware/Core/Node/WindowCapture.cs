namespace TinyMlops.Firmware.Core.Node
{
    /// <summary>
    /// Continuous capture without gaps: two window buffers, one filled by the sampling thread while the other is
    /// evaluated. Every sample lands in exactly one window, numbered in order; when evaluation has not let go of the
    /// other buffer by the time a window is full, that window is skipped (counted in <see cref="Overruns"/>) and the
    /// next one is filled in its place, so sampling never waits and never drifts. The per-sample path takes no lock.
    /// Thread-safe for one sampling thread (<see cref="Add"/>) and one evaluating thread (<see cref="TakeReady"/>,
    /// <see cref="Release"/>).
    /// </summary>
    public sealed class WindowCapture
    {
        private readonly object _gate = new object();
        private readonly float[][] _x = new float[2][];
        private readonly float[][] _y = new float[2][];
        private readonly float[][] _z = new float[2][];
        private readonly uint[] _number = new uint[2];
        private readonly bool[] _ready = new bool[2];
        private readonly bool[] _busy = new bool[2];
        private readonly int _length;
        private float[] _fx;   // the buffer being filled, cached so a sample costs three stores
        private float[] _fy;
        private float[] _fz;
        private int _filling;
        private int _count;
        private uint _next;

        /// <summary>Windows of <paramref name="length"/> samples per axis.</summary>
        public WindowCapture(int length)
        {
            _length = length;
            for (int i = 0; i < 2; i++)
            {
                _x[i] = new float[length];
                _y[i] = new float[length];
                _z[i] = new float[length];
            }

            _fx = _x[0];
            _fy = _y[0];
            _fz = _z[0];
        }

        /// <summary>Samples per axis in a window.</summary>
        public int Length
        {
            get { return _length; }
        }

        /// <summary>Windows filled so far (handed over or skipped).</summary>
        public uint Windows
        {
            get { return _next; }
        }

        /// <summary>Windows skipped because evaluation was a whole window behind.</summary>
        public uint Overruns;

        /// <summary>Adds one sample; true when it completed a window that is now ready for evaluation.</summary>
        public bool Add(float x, float y, float z)
        {
            int c = _count;
            _fx[c] = x;
            _fy[c] = y;
            _fz[c] = z;
            c++;
            if (c < _length)
            {
                _count = c;
                return false;
            }

            _count = 0;
            int f = _filling;
            lock (_gate)
            {
                _number[f] = _next;
                _next++;
                int other = 1 - f;
                if (_ready[other] || _busy[other])
                {
                    Overruns++; // nowhere to go on: this window is skipped and its buffer filled again
                    return false;
                }

                _ready[f] = true;
                _filling = other;
                _fx = _x[other];
                _fy = _y[other];
                _fz = _z[other];
                return true;
            }
        }

        /// <summary>A ready window's buffer index (claimed until <see cref="Release"/>), or -1 when none is ready.</summary>
        public int TakeReady()
        {
            lock (_gate)
            {
                for (int i = 0; i < 2; i++)
                {
                    if (_ready[i])
                    {
                        _ready[i] = false;
                        _busy[i] = true;
                        return i;
                    }
                }

                return -1;
            }
        }

        /// <summary>Gives a window's buffer back for sampling.</summary>
        public void Release(int index)
        {
            lock (_gate)
            {
                _busy[index] = false;
            }
        }

        /// <summary>x samples of buffer <paramref name="index"/>.</summary>
        public float[] X(int index)
        {
            return _x[index];
        }

        /// <summary>y samples of buffer <paramref name="index"/>.</summary>
        public float[] Y(int index)
        {
            return _y[index];
        }

        /// <summary>z samples of buffer <paramref name="index"/>.</summary>
        public float[] Z(int index)
        {
            return _z[index];
        }

        /// <summary>Number (0, 1, 2, … in capture order) of the window in buffer <paramref name="index"/>.</summary>
        public uint Number(int index)
        {
            return _number[index];
        }
    }
}
