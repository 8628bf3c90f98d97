using System.Collections;
using TinyMlops.Firmware.Core.Updates;

namespace TinyMlops.Tests.Shared
{
    /// <summary>Thrown by <see cref="FaultyStorage"/> when the simulated power fails.</summary>
    public class PowerLossException : System.Exception
    {
        /// <summary>Creates the exception.</summary>
        public PowerLossException(string message)
            : base(message)
        {
        }
    }

    /// <summary>
    /// In-memory <see cref="IModelStorage"/> that can lose power at a chosen write step: that step leaves its file
    /// torn (the first half of the new bytes), and every later call throws until <see cref="PowerOn"/>, which is the
    /// reboot. Portable: runs under xunit on the host and under nanoFramework.TestFramework on a device.
    /// </summary>
    public sealed class FaultyStorage : IModelStorage
    {
        private readonly Hashtable _files = new Hashtable();
        private bool _dead;

        /// <summary>Write step (1-based) at which power fails; 0 = never.</summary>
        public int FailAtStep;

        /// <summary>Write steps performed (or attempted) so far.</summary>
        public int Steps;

        /// <summary>True once the power has failed.</summary>
        public bool PoweredOff
        {
            get { return _dead; }
        }

        /// <summary>Restores power (the reboot); the files stay as the failure left them.</summary>
        public void PowerOn()
        {
            _dead = false;
            FailAtStep = 0;
        }

        /// <inheritdoc />
        public int Length(string name)
        {
            Alive();
            byte[]? b = (byte[]?)_files[name];
            return b == null ? -1 : b.Length;
        }

        /// <inheritdoc />
        public int Read(string name, int position, byte[] buffer, int offset, int count)
        {
            Alive();
            byte[]? b = (byte[]?)_files[name];
            if (b == null || position >= b.Length)
            {
                return 0;
            }

            int n = b.Length - position < count ? b.Length - position : count;
            System.Array.Copy(b, position, buffer, offset, n);
            return n;
        }

        /// <inheritdoc />
        public void Write(string name, byte[] data, int offset, int count)
        {
            Alive();
            if (Step())
            {
                _files[name] = Slice(data, offset, count / 2);
                PowerFails("write " + name);
            }

            _files[name] = Slice(data, offset, count);
        }

        /// <inheritdoc />
        public void Append(string name, byte[] data, int offset, int count)
        {
            Alive();
            byte[]? old = (byte[]?)_files[name];
            int oldLength = old == null ? 0 : old.Length;
            int keep = Step() ? count / 2 : count;
            byte[] b = new byte[oldLength + keep];
            if (old != null)
            {
                System.Array.Copy(old, 0, b, 0, oldLength);
            }

            System.Array.Copy(data, offset, b, oldLength, keep);
            _files[name] = b;
            if (keep != count)
            {
                PowerFails("append " + name);
            }
        }

        /// <inheritdoc />
        public void Delete(string name)
        {
            Alive();
            if (Step())
            {
                PowerFails("delete " + name);
            }

            _files.Remove(name);
        }

        private bool Step()
        {
            Steps++;
            return FailAtStep > 0 && Steps == FailAtStep;
        }

        private void PowerFails(string what)
        {
            _dead = true;
            throw new PowerLossException("power lost during step " + Steps + " (" + what + ")");
        }

        private void Alive()
        {
            if (_dead)
            {
                throw new PowerLossException("storage is powered off");
            }
        }

        private static byte[] Slice(byte[] data, int offset, int count)
        {
            byte[] b = new byte[count];
            System.Array.Copy(data, offset, b, 0, count);
            return b;
        }
    }
}
