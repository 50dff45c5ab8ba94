import PBTSystem
import PBTStages

// A child of `pbt run` (or of a test) dies with its parent, even one killed by SIGKILL.
ParentWatch.applyFromEnvironment()
StopSignal.install()
PBTCommand.main()
