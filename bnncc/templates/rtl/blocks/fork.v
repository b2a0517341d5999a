// Stream fork: every word to both outputs. One word register with a valid bit per output; the next word is
// taken only when both outputs have taken (or are taking) the last one.
module bnncc_fork #(parameter PE = 1, parameter BITS = 1, parameter WORDS = 1) (
    input wire clk, input wire rst,
    input wire [PE*BITS-1:0] in_data, input wire in_valid, output wire in_ready,
    output wire [PE*BITS-1:0] out0_data, output wire out0_valid, input wire out0_ready,
    output wire [PE*BITS-1:0] out1_data, output wire out1_valid, input wire out1_ready);
    reg [PE*BITS-1:0] word;
    reg v0, v1;
    assign in_ready = (!v0 || out0_ready) && (!v1 || out1_ready);
    assign out0_data = word;
    assign out1_data = word;
    assign out0_valid = v0;
    assign out1_valid = v1;
    always @(posedge clk) begin
        if (rst) begin
            v0 <= 0; v1 <= 0;
        end else if (in_valid && in_ready) begin
            word <= in_data; v0 <= 1; v1 <= 1;
        end else begin
            if (out0_ready) v0 <= 0;
            if (out1_ready) v1 <= 0;
        end
    end
endmodule
