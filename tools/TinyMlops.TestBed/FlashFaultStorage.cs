using TinyMlops.Firmware.Core.Updates;

namespace TinyMlops.TestBed;

/// <summary>
/// A node's model storage with a flash fault: every model slot it writes comes back with one byte flipped, so each
/// update's check of the written slot fails and the node rolls back to the model it ran. The rest (boot records,
/// staged downloads) is stored faithfully. For rollouts that must see nodes fail.
/// </summary>
public sealed class FlashFaultStorage(IModelStorage inner) : IModelStorage
{
    /// <inheritdoc />
    public int Length(string name) => inner.Length(name);

    /// <inheritdoc />
    public int Read(string name, int position, byte[] buffer, int offset, int count) => inner.Read(name, position, buffer, offset, count);

    /// <inheritdoc />
    public void Write(string name, byte[] data, int offset, int count)
    {
        if (name.StartsWith("model-", System.StringComparison.Ordinal) && count > 64)
        {
            byte[] damaged = new byte[count];
            System.Array.Copy(data, offset, damaged, 0, count);
            damaged[count / 2] ^= 0x5A;
            inner.Write(name, damaged, 0, count);
            return;
        }

        inner.Write(name, data, offset, count);
    }

    /// <inheritdoc />
    public void Append(string name, byte[] data, int offset, int count) => inner.Append(name, data, offset, count);

    /// <inheritdoc />
    public void Delete(string name) => inner.Delete(name);
}
