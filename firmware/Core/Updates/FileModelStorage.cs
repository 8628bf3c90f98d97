using System.IO;

namespace TinyMlops.Firmware.Core.Updates
{
    /// <summary>
    /// <see cref="IModelStorage"/> on a directory through System.IO: <c>I:\</c> (LittleFS) on the ESP32, any folder on
    /// a host. Every write is flushed before the call returns.
    /// </summary>
    public sealed class FileModelStorage : IModelStorage
    {
        private readonly string _root;

        /// <summary>Uses <paramref name="root"/> (created when missing).</summary>
        public FileModelStorage(string root)
        {
            _root = root;
            if (!Directory.Exists(root))
            {
                Directory.CreateDirectory(root);
            }
        }

        /// <inheritdoc />
        public int Length(string name)
        {
            string path = Path.Combine(_root, name);
            if (!File.Exists(path))
            {
                return -1;
            }

            using (FileStream s = new FileStream(path, FileMode.Open, FileAccess.Read))
            {
                return (int)s.Length;
            }
        }

        /// <inheritdoc />
        public int Read(string name, int position, byte[] buffer, int offset, int count)
        {
            string path = Path.Combine(_root, name);
            if (!File.Exists(path))
            {
                return 0;
            }

            using (FileStream s = new FileStream(path, FileMode.Open, FileAccess.Read))
            {
                if (position >= s.Length)
                {
                    return 0;
                }

                s.Seek(position, SeekOrigin.Begin);
                int total = 0;
                while (total < count)
                {
                    int r = s.Read(buffer, offset + total, count - total);
                    if (r <= 0)
                    {
                        break;
                    }

                    total += r;
                }

                return total;
            }
        }

        /// <inheritdoc />
        public void Write(string name, byte[] data, int offset, int count)
        {
            using (FileStream s = new FileStream(Path.Combine(_root, name), FileMode.Create, FileAccess.Write))
            {
                s.Write(data, offset, count);
                s.Flush();
            }
        }

        /// <inheritdoc />
        public void Append(string name, byte[] data, int offset, int count)
        {
            using (FileStream s = new FileStream(Path.Combine(_root, name), FileMode.Append, FileAccess.Write))
            {
                s.Write(data, offset, count);
                s.Flush();
            }
        }

        /// <inheritdoc />
        public void Delete(string name)
        {
            string path = Path.Combine(_root, name);
            if (File.Exists(path))
            {
                File.Delete(path);
            }
        }
    }
}
