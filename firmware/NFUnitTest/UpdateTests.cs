using nanoFramework.TestFramework;
using TinyMlops.Tests.Shared;

namespace TinyMlops.Firmware.NFUnitTest
{
    /// <summary>The update state machine's scenarios on the device, with the conformance models as releases.</summary>
    [TestClass]
    public class UpdateTests
    {
        private static byte[] Model(string name)
        {
            for (int i = 0; i < ConformanceData.Cases.Length; i++)
            {
                if (ConformanceData.Cases[i][0] == name)
                {
                    return System.Convert.FromBase64String(ConformanceData.Cases[i][1]);
                }
            }

            throw new System.Exception("no conformance model " + name);
        }

        // The scenario data (golden vectors, release versions) comes from UpdateCases, as on the host.
        private static float[] Golden()
        {
            return UpdateCases.Golden();
        }

        /// <summary>Install, upgrade, reboot.</summary>
        [TestMethod]
        public void InstallAndUpgrade()
        {
            UpdateCases.InstallAndUpgrade(Model("pca-36-6"), Model("kmeans-36-8"), Golden());
        }

        /// <summary>Refusals with their reasons.</summary>
        [TestMethod]
        public void RefusesBadOffers()
        {
            UpdateCases.RefusesBadOffers(Model("pca-36-6"), Model("kmeans-36-8"), Golden());
        }

        /// <summary>Self-test failure rolls back.</summary>
        [TestMethod]
        public void SelfTestFailureRollsBack()
        {
            UpdateCases.SelfTestFailureRollsBack(Model("pca-36-6"), Model("kmeans-36-8"), Golden());
        }

        /// <summary>Download resumes after reset.</summary>
        [TestMethod]
        public void ResumesAfterReset()
        {
            UpdateCases.ResumesAfterReset(Model("pca-36-6"), Golden());
        }

        /// <summary>Power loss at every write step.</summary>
        [TestMethod]
        public void PowerLossAtEveryStep()
        {
            int steps = UpdateCases.PowerLossAtEveryStep(Model("pca-36-6"), Model("kmeans-36-8"), Golden());
            Assert.IsTrue(steps > 4, "too few write steps");
        }
    }
}
