using TinyMlops.Gateway.Broker;
using TinyMlops.Gateway.Storage;
using TinyMlops.Gateway.Verification;

namespace TinyMlops.Gateway.Health;

/// <summary>What <c>/health</c> calls ok, and what a new application on trial must hold to be kept.</summary>
public static class GatewayHealth
{
    /// <summary>A verifier loaded, the broker link up, and room in the store.</summary>
    public static bool IsOk(VerifierHost verifier, INodeLink link, GatewayStore store) => verifier.Current != null && link.IsConnected && !store.IsFull;
}
