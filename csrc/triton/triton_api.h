// The part of Triton Inference Server's C API (TRITONBACKEND 1.x, TRITONSERVER 1.x) the
// shoprank backend uses, declared here because the server we run (the nvidia-pytriton wheel,
// Triton 2.51) ships no headers. The functions are resolved from the tritonserver process
// when it loads the backend; the numbers below are the API's own and must not change.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {

struct TRITONSERVER_Error;
struct TRITONSERVER_Message;
struct TRITONBACKEND_Backend;
struct TRITONBACKEND_Model;
struct TRITONBACKEND_ModelInstance;
struct TRITONBACKEND_Request;
struct TRITONBACKEND_Input;
struct TRITONBACKEND_Response;
struct TRITONBACKEND_Output;

enum TRITONSERVER_DataType : int {
  TRITONSERVER_TYPE_INVALID = 0, TRITONSERVER_TYPE_INT32 = 8, TRITONSERVER_TYPE_INT64 = 9,
  TRITONSERVER_TYPE_FP32 = 11, TRITONSERVER_TYPE_FP64 = 12, TRITONSERVER_TYPE_BYTES = 13,
};
enum TRITONSERVER_MemoryType : int { TRITONSERVER_MEMORY_CPU = 0, TRITONSERVER_MEMORY_CPU_PINNED = 1 };
enum TRITONSERVER_Error_Code : int {
  TRITONSERVER_ERROR_INTERNAL = 1, TRITONSERVER_ERROR_INVALID_ARG = 3,
  TRITONSERVER_ERROR_UNSUPPORTED = 5,
};
enum TRITONSERVER_LogLevel : int { TRITONSERVER_LOG_INFO = 0, TRITONSERVER_LOG_ERROR = 2 };
enum TRITONBACKEND_ArtifactType : int { TRITONBACKEND_ARTIFACT_FILESYSTEM = 0 };
constexpr uint32_t kTritonRequestReleaseAll = 1;
constexpr uint32_t kTritonResponseCompleteFinal = 1;
constexpr uint32_t kTritonBackendApiMajor = 1;  // declared from API 1.19 (Triton 2.51)

using TRITONSERVER_ErrorPtr = TRITONSERVER_Error*;

TRITONSERVER_ErrorPtr TRITONSERVER_ErrorNew(TRITONSERVER_Error_Code code, const char* message);
void TRITONSERVER_ErrorDelete(TRITONSERVER_Error* error);
const char* TRITONSERVER_ErrorMessage(TRITONSERVER_Error* error);
TRITONSERVER_ErrorPtr TRITONSERVER_MessageSerializeToJson(TRITONSERVER_Message* message,
                                                          const char** base, size_t* byte_size);
TRITONSERVER_ErrorPtr TRITONSERVER_MessageDelete(TRITONSERVER_Message* message);
TRITONSERVER_ErrorPtr TRITONSERVER_LogMessage(TRITONSERVER_LogLevel level, const char* filename,
                                              const int line, const char* message);

TRITONSERVER_ErrorPtr TRITONBACKEND_ApiVersion(uint32_t* major, uint32_t* minor);
TRITONSERVER_ErrorPtr TRITONBACKEND_ModelName(TRITONBACKEND_Model* model, const char** name);
TRITONSERVER_ErrorPtr TRITONBACKEND_ModelVersion(TRITONBACKEND_Model* model, uint64_t* version);
TRITONSERVER_ErrorPtr TRITONBACKEND_ModelRepository(TRITONBACKEND_Model* model,
                                                    TRITONBACKEND_ArtifactType* artifact_type,
                                                    const char** location);
TRITONSERVER_ErrorPtr TRITONBACKEND_ModelConfig(TRITONBACKEND_Model* model,
                                                const uint32_t config_version,
                                                TRITONSERVER_Message** model_config);
TRITONSERVER_ErrorPtr TRITONBACKEND_ModelState(TRITONBACKEND_Model* model, void** state);
TRITONSERVER_ErrorPtr TRITONBACKEND_ModelSetState(TRITONBACKEND_Model* model, void* state);
TRITONSERVER_ErrorPtr TRITONBACKEND_ModelInstanceModel(TRITONBACKEND_ModelInstance* instance,
                                                       TRITONBACKEND_Model** model);
TRITONSERVER_ErrorPtr TRITONBACKEND_ModelInstanceReportStatistics(
    TRITONBACKEND_ModelInstance* instance, TRITONBACKEND_Request* request, const bool success,
    const uint64_t exec_start_ns, const uint64_t compute_start_ns,
    const uint64_t compute_end_ns, const uint64_t exec_end_ns);
TRITONSERVER_ErrorPtr TRITONBACKEND_ModelInstanceReportBatchStatistics(
    TRITONBACKEND_ModelInstance* instance, const uint64_t batch_size,
    const uint64_t exec_start_ns, const uint64_t compute_start_ns,
    const uint64_t compute_end_ns, const uint64_t exec_end_ns);

TRITONSERVER_ErrorPtr TRITONBACKEND_RequestInputCount(TRITONBACKEND_Request* request,
                                                      uint32_t* count);
TRITONSERVER_ErrorPtr TRITONBACKEND_RequestInputByIndex(TRITONBACKEND_Request* request,
                                                        const uint32_t index,
                                                        TRITONBACKEND_Input** input);
TRITONSERVER_ErrorPtr TRITONBACKEND_RequestOutputCount(TRITONBACKEND_Request* request,
                                                       uint32_t* count);
TRITONSERVER_ErrorPtr TRITONBACKEND_RequestOutputName(TRITONBACKEND_Request* request,
                                                      const uint32_t index,
                                                      const char** output_name);
TRITONSERVER_ErrorPtr TRITONBACKEND_RequestRelease(TRITONBACKEND_Request* request,
                                                   uint32_t release_flags);
TRITONSERVER_ErrorPtr TRITONBACKEND_InputProperties(TRITONBACKEND_Input* input,
                                                    const char** name,
                                                    TRITONSERVER_DataType* datatype,
                                                    const int64_t** shape, uint32_t* dims_count,
                                                    uint64_t* byte_size, uint32_t* buffer_count);
TRITONSERVER_ErrorPtr TRITONBACKEND_InputBuffer(TRITONBACKEND_Input* input, const uint32_t index,
                                                const void** buffer, uint64_t* buffer_byte_size,
                                                TRITONSERVER_MemoryType* memory_type,
                                                int64_t* memory_type_id);

TRITONSERVER_ErrorPtr TRITONBACKEND_ResponseNew(TRITONBACKEND_Response** response,
                                                TRITONBACKEND_Request* request);
TRITONSERVER_ErrorPtr TRITONBACKEND_ResponseDelete(TRITONBACKEND_Response* response);
TRITONSERVER_ErrorPtr TRITONBACKEND_ResponseOutput(TRITONBACKEND_Response* response,
                                                   TRITONBACKEND_Output** output,
                                                   const char* name,
                                                   const TRITONSERVER_DataType datatype,
                                                   const int64_t* shape,
                                                   const uint32_t dims_count);
TRITONSERVER_ErrorPtr TRITONBACKEND_OutputBuffer(TRITONBACKEND_Output* output, void** buffer,
                                                 const uint64_t buffer_byte_size,
                                                 TRITONSERVER_MemoryType* memory_type,
                                                 int64_t* memory_type_id);
TRITONSERVER_ErrorPtr TRITONBACKEND_ResponseSend(TRITONBACKEND_Response* response,
                                                 const uint32_t send_flags,
                                                 TRITONSERVER_Error* error);

}  // extern "C"
