using System.Threading;
using System.Threading.Tasks;

namespace TinyMlops.Gateway.Broker;

/// <summary>The gateway's way to its nodes, whichever broker carries it. Implementations are thread-safe.</summary>
public interface INodeLink
{
    /// <summary>True while messages can be delivered to nodes.</summary>
    bool IsConnected { get; }

    /// <summary>Publishes <paramref name="payload"/> to a node's <c>down/</c> topic, QoS 1.</summary>
    Task PublishAsync(string topic, byte[] payload, CancellationToken cancellationToken);
}
