import ProgramVersioning
import ProgramVersioningOps

print(Migrator.advisoryLockKey)
