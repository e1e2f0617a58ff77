// The Open MPI handles Swift cannot import. Each is a C macro (a cast of the address of a
// library global, or of a constant), and Swift's importer drops macros that expand to casts,
// so each is exported here as a function. Only VAEDistributed imports this module.
#ifndef VAE_MPI_SHIMS_H
#define VAE_MPI_SHIMS_H

#include <mpi.h>

// MPI_COMM_WORLD: the communicator of every rank of the job; a cast of &ompi_mpi_comm_world.
static inline MPI_Comm vae_mpi_comm_world(void) { return MPI_COMM_WORLD; }

// MPI_FLOAT: the datatype of the gradient and loss buffer (Float); a cast of a global's address.
static inline MPI_Datatype vae_mpi_float(void) { return MPI_FLOAT; }

// MPI_DOUBLE: the datatype of flags, ranks and timings reduced as Double; a cast likewise.
static inline MPI_Datatype vae_mpi_double(void) { return MPI_DOUBLE; }

// MPI_BYTE: the datatype of broadcasts of raw bytes (parameters, settings); a cast likewise.
static inline MPI_Datatype vae_mpi_byte(void) { return MPI_BYTE; }

// MPI_SUM: the reduction of gradients and loss terms; a cast of &ompi_mpi_op_sum.
static inline MPI_Op vae_mpi_sum(void) { return MPI_SUM; }

// MPI_MAX: the reduction that agrees on flags (any rank saying yes wins); a cast likewise.
static inline MPI_Op vae_mpi_max(void) { return MPI_MAX; }

// MPI_IN_PLACE: the send-buffer sentinel that makes an allreduce overwrite its input;
// defined as ((void *) 1), a cast of an integer that Swift cannot import.
static inline void *vae_mpi_in_place(void) { return MPI_IN_PLACE; }

// MPI_ERRORS_RETURN: makes MPI calls return error codes (turned into Swift errors) instead of
// aborting inside the library; a cast of a global's address.
static inline MPI_Errhandler vae_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }

// MPI_STATUS_IGNORE: the status argument that asks for no status; a cast of 0.
static inline MPI_Status *vae_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }

#endif
