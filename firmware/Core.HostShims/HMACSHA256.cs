using System;

namespace TinyMlops.Firmware.Core
{
    /// <summary>
    /// Host stand-in for nanoFramework's <c>System.Security.Cryptography.HMACSHA256</c>, compiled only into the host
    /// build of the core (TinyMlops.Firmware.Core.csproj; the device project compiles <c>..\Core</c> alone). It sits in
    /// the core's root namespace, which C# searches before any <c>using</c> directive, so every core file that names
    /// <c>HMACSHA256</c> binds to it on the host and to nanoFramework's class on the device. It behaves as
    /// nanoFramework's does, where .NET's differs: it keeps the caller's key array rather than a copy (so a later change
    /// to that array changes the key), and <see cref="Dispose"/> clears that array. A core that gives it a key it still
    /// needs loses the key after the first MAC, here exactly as on the device.
    /// </summary>
    internal sealed class HMACSHA256 : IDisposable
    {
        private readonly byte[] _key;
        private bool _disposed;

        /// <summary>Keeps <paramref name="key"/> itself, as nanoFramework does.</summary>
        public HMACSHA256(byte[] key)
        {
            _key = key ?? throw new ArgumentNullException(nameof(key));
        }

        /// <summary>Arrays cleared by <see cref="Dispose"/> since the process started (for the tests).</summary>
        internal static int KeysCleared;

        /// <summary>HMAC-SHA256 of <paramref name="buffer"/> under the key array's current contents.</summary>
        public byte[] ComputeHash(byte[] buffer)
        {
            if (_disposed)
            {
                throw new ObjectDisposedException(nameof(HMACSHA256));
            }

            return System.Security.Cryptography.HMACSHA256.HashData(_key, buffer);
        }

        /// <summary>Clears the caller's key array, as nanoFramework's <c>Dispose</c> does.</summary>
        public void Dispose()
        {
            if (!_disposed)
            {
                Array.Clear(_key, 0, _key.Length);
                System.Threading.Interlocked.Increment(ref KeysCleared);
                _disposed = true;
            }
        }
    }
}
