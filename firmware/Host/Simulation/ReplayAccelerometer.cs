using System.Threading;
using TinyMlops.Firmware.Core.Node;

namespace TinyMlops.Firmware.Host.Simulation;

/// <summary>
/// A sensor that replays a recording (g per axis) from sample <c>start</c>, from the beginning again at its end (nodes
/// of a fleet share one recording at different places). A read can be made to fail (<see cref="Failing"/>, a bus
/// fault). Read by one sampling thread; <see cref="Failing"/> may be set from any.
/// </summary>
public sealed class ReplayAccelerometer(float[] x, float[] y, float[] z, int start = 0) : IAccelerometer
{
    private int _next = x.Length == 0 ? 0 : ((start % x.Length) + x.Length) % x.Length;
    private volatile bool _failing;

    /// <summary>Samples read so far.</summary>
    public long Reads { get; private set; }

    /// <summary>True: every read fails, as a disconnected sensor's does.</summary>
    public bool Failing
    {
        get => _failing;
        set => _failing = value;
    }

    /// <inheritdoc />
    public bool TryRead(float[] xyz)
    {
        if (_failing)
        {
            return false;
        }

        int i = _next;
        xyz[0] = x[i];
        xyz[1] = y[i];
        xyz[2] = z[i];
        _next = i + 1 == x.Length ? 0 : i + 1;
        Reads++;
        return true;
    }
}
